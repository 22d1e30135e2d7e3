"""Read YAML files into plain data while remembering where every value came from."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fnl_deploy.errors import Problem
from fnl_deploy.i18n import t

#: A path into a document: mapping keys and sequence indexes, e.g. ("people", 0, "mailbox").
Loc = tuple[str | int, ...]


@dataclass
class Source:
    """One parsed YAML file: its plain data and the position of each key and value."""

    path: Path
    display: str
    data: Any
    #: (line, column), 1-based, of each value; for mapping entries, of the key.
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: Loc) -> tuple[int | None, int | None]:
        """Position of the deepest known prefix of ``loc``."""
        for end in range(len(loc), -1, -1):
            found = self.positions.get(tuple(loc[:end]))
            if found:
                return found
        return None, None

    def problem(self, loc: Loc, message: str, severity: str = "error") -> Problem:
        line, column = self.where(loc)
        return Problem(self.display, line, column, format_loc(loc), message, severity)


def format_loc(loc: Loc) -> str:
    """Render ("people", 0, "mailbox") as ``people[0].mailbox``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# YAML 1.2 core schema for plain scalars: "no", "on", "01001" stay text (no Norway problem).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")


def _scalar(node: yaml.ScalarNode) -> Any:
    value = node.value
    if node.style:  # quoted or block scalar: always text
        return value
    if _NULL.match(value):
        return None
    if _BOOL.match(value):
        return value.lower() == "true"
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    return value


class _Duplicate(Exception):
    def __init__(self, key: str, node: yaml.Node, loc: Loc, first_line: int) -> None:
        self.key = key
        self.first_line = first_line
        self.node = node
        self.loc = loc


def _plain(node: yaml.Node, loc: Loc, positions: dict[Loc, tuple[int, int]]) -> Any:
    """Build dict/list/str/int from libyaml's node tree, recording positions."""
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = (*loc, key)
            if key in out:
                raise _Duplicate(str(key), key_node, child, positions[child][0])
            positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _plain(value_node, child, positions)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            child = (*loc, index)
            positions[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_plain(item, child, positions))
        return items
    return _scalar(node)


def parse_text(text: str, path: Path, display: str) -> tuple[Source | None, list[Problem]]:
    """Parse YAML text; on failure return a located, explained problem instead of raising."""
    # Accept what Windows editors write: a UTF-8 BOM and CRLF line ends.
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return None, [Problem(display, line, None, "", t("yaml.nul"))]
    # libyaml (C) composes the node tree: ~30x faster than a pure-Python parser, which
    # matters at 1,000 tenant files. Nodes carry their line and column.
    loader = yaml.CSafeLoader(text) if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        bad_line = text.split("\n")[line - 1] if line else ""
        if "\t" in bad_line[: (column or 0) + 1] or "'\\t'" in str(exc.problem):
            message = t("yaml.tab")
        else:
            detail = (exc.problem or str(exc)).strip()
            opened = exc.context_mark
            if exc.context and opened is not None and line and opened.line + 1 != line:
                # e.g. an unclosed [ or quote: say where it was opened, not only where it broke.
                detail = t(
                    "yaml.syntax_context", detail=detail, context=exc.context, line=opened.line + 1
                )
            message = t("yaml.syntax", detail=detail)
            if "mapping values are not allowed" in detail:
                message += "; " + t("yaml.syntax_indent_hint")
        return None, [Problem(display, line, column, "", message)]
    except yaml.YAMLError as exc:
        return None, [Problem(display, None, None, "", t("yaml.syntax", detail=str(exc)))]
    finally:
        loader.dispose()
    positions: dict[Loc, tuple[int, int]] = {(): (1, 1)}
    if node is None:
        return Source(path, display, None, positions), []
    # Problems about the whole document (a missing top-level field) point at its first line.
    positions[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
    try:
        data = _plain(node, (), positions)
    except _Duplicate as dup:
        mark = dup.node.start_mark
        return None, [
            Problem(
                display,
                mark.line + 1,
                mark.column + 1,
                format_loc(dup.loc),
                t("yaml.duplicate_key", key=dup.key, first=dup.first_line),
            )
        ]
    return Source(path, display, data, positions), []


def load_file(path: Path, display: str | None = None) -> tuple[Source | None, list[Problem]]:
    """Read and parse one file; unreadable or non-UTF-8 files become problems."""
    shown = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem(shown, None, None, "", t("file.unreadable", error=exc.strerror))]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(shown, line, None, "", t("file.not_utf8"))]
    return parse_text(text, path, shown)


def walk(data: Any, loc: Loc = ()) -> Iterator[tuple[Loc, Any]]:
    """Yield every (location, scalar) pair of a plain document."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from walk(value, (*loc, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk(value, (*loc, index))
    else:
        yield loc, data
