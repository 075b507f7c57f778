"""The small subset of KQL the Log Analytics fake evaluates: what rescind's pulls emit.

``Table | where <cond> | where ... | order by Col asc, ... | count`` where a condition
is ``and``/``or`` (with parentheses) over ``Col between (datetime(..) .. datetime(..))``,
``path == "text"``, ``path =~ "text"`` (any case), ``path != "text"`` and
``path has "text"`` (a whole term, any case); a path is a column or a walk into a
dynamic column (``InitiatedBy.user.id``), optionally in ``tostring(...)``. Anything
else is refused with the message the service would give a syntax error, so a query
rescind starts writing differently fails here before it fails in a real workspace.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

Row = Mapping[str, Any]
Test = Callable[[Row], bool]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<datetime>datetime\(\s*(?P<when>[^)]*?)\s*\))
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<op>==|=~|!=|\.\.|[()|,])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<number>\d+)
    )""", re.VERBOSE)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "'": "'"}


class KqlError(ValueError):
    """A query outside the subset: answered as the service answers a syntax error."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise KqlError(f"unexpected text at {pos}: {text[pos:pos + 20]!r}")
        if match.group("datetime"):
            out.append(("datetime", match.group("when")))
        elif match.group("string"):
            out.append(("string", _unquote(match.group("string"))))
        else:
            kind = next(k for k in ("op", "name", "number") if match.group(k))
            out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _unquote(literal: str) -> str:
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                raise KqlError(f"unknown escape in {literal!r}")
            out.append(_ESCAPES[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def parse_time(text: str) -> datetime:
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def value_at(row: Row, path: str) -> Any:
    """A column, or a walk into a dynamic column (held as an object or its JSON)."""
    head, *rest = path.split(".")
    value: Any = row.get(head)
    for part in rest:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (Mapping, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], columns: set[str]) -> None:
        self.tokens, self.pos, self.columns = tokens, 0, columns

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        found = self.peek()
        if found[0] != kind or (value is not None and found[1].lower() != value):
            raise KqlError(f"expected {value or kind}, found {found[1] or 'the end'!r}")
        self.pos += 1
        return found[1]

    def word(self, value: str) -> bool:
        found = self.peek()
        if found[0] == "name" and found[1].lower() == value:
            self.pos += 1
            return True
        return False

    def expression(self) -> Test:
        parts = [self.conjunction()]
        while self.word("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def conjunction(self) -> Test:
        parts = [self.term()]
        while self.word("and"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def term(self) -> Test:
        if self.peek() == ("op", "("):
            self.pos += 1
            inner = self.expression()
            self.take("op", ")")
            return inner
        path = self.path()
        if self.word("between"):
            self.take("op", "(")
            low = parse_time(self.take("datetime"))
            self.take("op", "..")
            high = parse_time(self.take("datetime"))
            self.take("op", ")")
            return lambda r: _between(value_at(r, path), low, high)
        if self.word("has"):
            term = self.take("string")
            pattern = re.compile(rf"(?<![0-9A-Za-z]){re.escape(term)}(?![0-9A-Za-z])",
                                 re.IGNORECASE)
            return lambda r: bool(pattern.search(_text(value_at(r, path))))
        op = self.take("op")
        if op not in ("==", "=~", "!="):
            raise KqlError(f"operator {op!r} is not supported here")
        wanted = self.take("string")
        if op == "=~":
            return lambda r: _text(value_at(r, path)).lower() == wanted.lower()
        if op == "!=":
            return lambda r: _text(value_at(r, path)) != wanted
        return lambda r: _text(value_at(r, path)) == wanted

    def path(self) -> str:
        name = self.take("name")
        if name.lower() == "tostring":
            self.take("op", "(")
            name = self.take("name")
            self.take("op", ")")
        if self.columns and name.split(".")[0] not in self.columns:
            raise KqlError(f"Failed to resolve scalar expression named '{name.split('.')[0]}'")
        return name


def _between(value: Any, low: datetime, high: datetime) -> bool:
    if value is None:
        return False
    when = value if isinstance(value, datetime) else parse_time(str(value))
    return low <= when <= high


def _sort_key(column: str, row: Row) -> str:
    return _text(value_at(row, column))


def _pipes(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = [[]]
    for token in tokens:
        if token == ("op", "|"):
            stages.append([])
        else:
            stages[-1].append(token)
    return stages


def run(query: str, tables: Mapping[str, list[dict[str, Any]]],
        within: tuple[datetime, datetime] | None = None) -> list[dict[str, Any]]:
    """The rows the query selects, in its order (``count``: one row ``{"Count": n}``),
    of those whose TimeGenerated is ``within`` (the request's timespan). Raises
    KqlError for anything outside the subset."""
    stages = _pipes(_tokens(query))
    head = stages[0]
    if len(head) != 1 or head[0][0] != "name" or "." in head[0][1]:
        raise KqlError("a query starts with one table name")
    name = head[0][1]
    if name not in tables:
        raise KqlError(f"Failed to resolve table or column expression named '{name}'")
    rows = list(tables[name])
    # The table's schema, as far as its rows show it (an empty table checks nothing).
    columns = {key for row in rows for key in row}
    if within is not None:
        rows = [r for r in rows if _between(r.get("TimeGenerated"), *within)]
    for stage in stages[1:]:
        parser = _Parser(stage, columns)
        if parser.word("where"):
            test = parser.expression()
            rows = [r for r in rows if test(r)]
        elif parser.word("order") or parser.word("sort"):
            parser.take("name", "by")
            keys: list[tuple[str, bool]] = []
            while True:
                column = parser.path()
                descending = parser.word("desc")
                if not descending:
                    parser.word("asc")
                keys.append((column, descending))
                if parser.peek() != ("op", ","):
                    break
                parser.pos += 1
            for column, descending in reversed(keys):
                rows.sort(key=functools.partial(_sort_key, column), reverse=descending)
        elif parser.word("count"):
            rows = [{"Count": len(rows)}]
        else:
            raise KqlError(f"operator {parser.peek()[1]!r} is not supported by the fake")
        if parser.peek()[0] != "end":
            raise KqlError(f"unexpected {parser.peek()[1]!r}")
    return rows
