"""The part of the Cloud Logging filter language the fake understands.

Enough for what rescind and ``gcloud logging read`` send: terms joined by ``AND``
(or juxtaposed), a parenthesised ``OR`` group, ``NOT``, comparisons ``=``, ``!=``,
``:`` (has: substring), ``>=``, ``<=``, ``>``, ``<`` on dotted field paths, values
quoted or bare. Like the real service, a filter that does not bound ``timestamp``
from below only sees the last 24 hours.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|>=|<=|!=|[=:<>]|[^\s()"=:<>!]+)')
Entry = Mapping[str, Any]
Test = Callable[[Entry], bool]


class FilterError(ValueError):
    """A filter the fake cannot parse (the real service answers INVALID_ARGUMENT)."""


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip():
                raise FilterError(f"cannot parse filter at {text[pos:pos + 20]!r}")
            break
        if match.group(1):
            out.append(match.group(1))
        pos = match.end()
    return out


def _value(entry: Entry, path: str) -> Any:
    node: Any = entry
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(path: str, op: str, raw: str) -> Test:
    want = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw

    def test(entry: Entry) -> bool:
        have = _value(entry, path)
        if have is None:
            return op == "!="
        left: Any = str(have)
        right: Any = want
        if path == "timestamp" and op in (">=", "<=", ">", "<", "="):
            left, right = _time(str(have)), _time(want)
        if op == ":":
            return str(right).lower() in str(left).lower()
        return bool({"=": left == right, "!=": left != right, ">=": left >= right,
                     "<=": left <= right, ">": left > right, "<": left < right}[op])

    return test


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.pos = tokens, 0
        self.lower_bound = False

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise FilterError("filter ends too early")
        self.pos += 1
        return token

    def conjunction(self) -> Test:
        terms = [self.disjunction()]
        while self.peek() not in (None, ")"):
            if self.peek() == "AND":
                self.take()
            terms.append(self.disjunction())
        return lambda e: all(t(e) for t in terms)

    def disjunction(self) -> Test:
        terms = [self.term()]
        while self.peek() == "OR":
            self.take()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else (lambda e: any(t(e) for t in terms))

    def term(self) -> Test:
        token = self.take()
        if token == "NOT" or token == "-":
            inner = self.term()
            return lambda e: not inner(e)
        if token == "(":
            inner = self.conjunction()
            if self.take() != ")":
                raise FilterError("unbalanced parentheses")
            return inner
        op = self.peek()
        if op in ("=", "!=", ":", ">=", "<=", ">", "<"):
            self.take()
            if token == "timestamp" and op in (">=", ">"):
                self.lower_bound = True
            return _compare(token, op, self.take())
        word = token[1:-1] if token.startswith('"') else token
        return lambda e: word.lower() in str(e).lower()  # a bare word: global restriction


def compile_filter(text: str, now: datetime) -> Test:
    """A predicate over LogEntry dicts; adds the service's implicit last-24-hours bound."""
    parser = _Parser(_tokens(text or ""))
    test = parser.conjunction() if parser.tokens else (lambda e: True)
    if parser.peek() is not None:
        raise FilterError(f"unexpected {parser.peek()!r}")
    if parser.lower_bound:
        return test
    floor = now - timedelta(hours=24)
    return lambda e: bool(e.get("timestamp")) and _time(str(e["timestamp"])) >= floor and test(e)
