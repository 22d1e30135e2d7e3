"""Read YAML files into plain data while remembering where every value came from."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

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


def _plain(node: Any, loc: Loc, positions: dict[Loc, tuple[int, int]]) -> Any:
    """Convert ruamel's round-trip nodes to dict/list/str/int, recording positions."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            child = (*loc, key if isinstance(key, str | int) else str(key))
            try:
                line, col = node.lc.key(key)
                positions[child] = (line + 1, col + 1)
            except (KeyError, TypeError, AttributeError):
                pass
            out[str(key) if not isinstance(key, str | int | bool) else key] = _plain(
                value, child, positions
            )
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*loc, index)
            try:
                line, col = node.lc.item(index)
                positions[child] = (line + 1, col + 1)
            except (KeyError, TypeError, AttributeError, IndexError):
                pass
            items.append(_plain(value, child, positions))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def parse_text(text: str, path: Path, display: str) -> tuple[Source | None, list[Problem]]:
    """Parse YAML text; on failure return a located, explained problem instead of raising."""
    # Accept what Windows editors write: a UTF-8 BOM and CRLF line ends.
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return None, [Problem(display, line, None, "", t("yaml.nul"))]
    try:
        node = _yaml().load(io.StringIO(text))
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        key = _duplicate_key_name(exc)
        return None, [
            Problem(
                display,
                mark.line + 1 if mark else None,
                mark.column + 1 if mark else None,
                key,
                t("yaml.duplicate_key", key=key),
            )
        ]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        bad_line = text.split("\n")[line - 1] if line else ""
        if "\t" in bad_line[: (column or 0) + 1] or "'\\t'" in str(exc.problem):
            message = t("yaml.tab")
        else:
            message = t("yaml.syntax", detail=(exc.problem or str(exc)).strip())
        return None, [Problem(display, line, column, "", message)]
    except YAMLError as exc:
        return None, [Problem(display, None, None, "", t("yaml.syntax", detail=str(exc)))]
    positions: dict[Loc, tuple[int, int]] = {(): (1, 1)}
    data = _plain(node, (), positions)
    return Source(path, display, data, positions), []


def _duplicate_key_name(exc: DuplicateKeyError) -> str:
    # ruamel words it: 'found duplicate key "people" with value ...'
    problem = str(exc.problem or "")
    if '"' in problem:
        return problem.split('"')[1]
    return ""


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
