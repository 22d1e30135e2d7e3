"""Turn pydantic's ValidationError into located, translated problems, in one place."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from fnl_deploy.errors import Problem
from fnl_deploy.i18n import t
from fnl_deploy.model.tenant import SCHEMA_VERSION
from fnl_deploy.yamlsrc import Loc, Source

_TYPE_NAMES = {
    "string_type": "text",
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer",
    "bool_type": "true/false",
    "bool_parsing": "true/false",
    "dict_type": "mapping (key: value)",
    "model_type": "mapping (key: value)",
    "model_attributes_type": "mapping (key: value)",
    "list_type": "list",
    "tuple_type": "list",
}


_BOUNDS = {
    "greater_than_equal": "ge",
    "greater_than": "gt",
    "less_than_equal": "le",
    "less_than": "lt",
}


def _yaml_type(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "nothing"
    return "text"


def model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` (for did-you-mean)."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            if isinstance(part, int):
                return None
            field = next(
                (f for name, f in current.model_fields.items() if part in (name, f.alias)),
                None,
            )
            if field is None:
                return None
            current = field.annotation
        current = _unwrap(current, part)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any, part: str | int) -> Any:
    """Step through Optional/tuple/list/dict to the model class inside, if any."""
    for _ in range(4):
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            inner = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = inner[0] if len(inner) == 1 else annotation
            if len(inner) != 1:
                return annotation
        elif origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (tuple, list) and isinstance(part, int):
            return typing.get_args(annotation)[0]
        elif origin is dict and not isinstance(part, int):
            return typing.get_args(annotation)[1]
        else:
            return annotation
    return annotation


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _clean(loc: tuple[str | int, ...]) -> Loc:
    """Drop the tags union members add to the path, e.g. "function-after[_local_part(), str]"."""
    return tuple(p for p in loc if isinstance(p, int) or ("[" not in p and "(" not in p))


def problems_from(
    error: ValidationError, source: Source, root: type[BaseModel], prefix: Loc = ()
) -> list[Problem]:
    """One Problem per pydantic error, pointing at file:line:column and the field path."""
    problems = []
    items = error.errors(include_url=False)
    locs = [_clean(item["loc"]) for item in items]
    for item, rel_loc in zip(items, locs, strict=True):
        if item["type"] == "too_short" and any(
            len(other) > len(rel_loc) and other[: len(rel_loc)] == rel_loc for other in locs
        ):
            continue  # "needs at least 1 item" only because that item was itself invalid
        loc: Loc = (*prefix, *rel_loc)
        kind = item["type"]
        if kind == "extra_forbidden":
            message = t("field.unknown")
            parent = model_at(root, rel_loc[:-1])
            if parent is not None:
                close = difflib.get_close_matches(str(rel_loc[-1]), _field_names(parent), n=1)
                if close:
                    message += "; " + t("field.did_you_mean", suggestion=close[0])
        elif kind == "missing":
            message = t("field.missing")
        elif kind == "fnl":
            message = str(item["ctx"]["message"])
        elif kind == "literal_error" and rel_loc == ("schema",):
            message = t("schema.version", value=item["input"], supported=SCHEMA_VERSION)
        elif kind in ("enum", "literal_error"):
            # pydantic says "'a', 'b' or 'c'" in English: list the choices, language-neutral.
            choices = re.findall(r"'([^']*)'", str(item["ctx"]["expected"]))
            expected = ", ".join(choices) if choices else str(item["ctx"]["expected"])
            message = t("field.enum", value=item["input"], expected=expected)
        elif kind in _BOUNDS:
            message = t(f"field.{kind}", limit=item["ctx"][_BOUNDS[kind]])
        elif kind == "too_short":
            message = t("field.too_short", min=item["ctx"]["min_length"])
        elif kind in _TYPE_NAMES:
            message = t("field.type", expected=_TYPE_NAMES[kind], got=_yaml_type(item["input"]))
        else:
            message = t("field.invalid", detail=item["msg"])
        problems.append(source.problem(loc, message))
    return _dedupe(problems)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen = set()
    out = []
    for problem in problems:
        # A value failing every member of a union yields one error per member: keep the first.
        key = (problem.line, problem.field)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out
