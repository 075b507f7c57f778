"""The timeline filter: what a responder types into the filter box, as a predicate.

Syntax (case-insensitive, every term must hold):

    word                  anywhere in the row
    actor:alice           in one column: actor, action, source, ip, result, target,
                          region, account, service
    -word / -result:ok    negation
    since:2026-11-20T10   from this UTC time (ISO 8601, any prefix down to the day)
    until:2026-11-20T11   up to this UTC time
    relevant:yes          only rows marked relevant

Text that does not parse yet (a half-typed time) is reported in ``problems`` and
ignored, so the table never empties while the responder is still typing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from rescind.timeline.event import Event
from rescind.tui.sources import source_label

FIELDS: tuple[str, ...] = ("actor", "action", "source", "ip", "result", "target", "region",
                           "account", "service")
_ALIASES = {"src": "source", "source_ip": "ip", "user": "actor", "from": "since",
            "after": "since", "to": "until", "before": "until", "event": "action"}
_TOKEN = re.compile(r'(-?)(?:([a-z_]+):)?("([^"]*)"?|\S+)', re.IGNORECASE)


class Row(NamedTuple):
    """One event reduced to what the filter and the table need, precomputed once."""

    position: int  # in the merged timeline
    ts: float  # epoch seconds
    fields: tuple[str, ...]  # lower-cased column values, in FIELDS order
    blob: str  # every column lower-cased, joined, for free-text terms
    relevant: bool


@dataclass(frozen=True)
class Term:
    field: int | None  # index into FIELDS; None: anywhere
    value: str
    negate: bool = False


@dataclass
class EventFilter:
    terms: list[Term] = field(default_factory=list)
    since: float | None = None
    until: float | None = None
    relevant: bool | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.terms and self.since is None and self.until is None \
            and self.relevant is None

    @classmethod
    def parse(cls, text: str) -> EventFilter:
        result = cls()
        for match in _TOKEN.finditer(text):
            negate = match.group(1) == "-"
            key = (match.group(2) or "").lower()
            key = _ALIASES.get(key, key)
            value = match.group(4) if match.group(4) is not None else match.group(3)
            if value.startswith('"'):
                value = value.strip('"')
            if not value:
                continue
            if key in ("since", "until"):
                stamp = parse_time(value, end=key == "until")
                if stamp is None:
                    result.problems.append(f"{key}: needs a UTC time like 2026-11-20T10:30")
                elif key == "since":
                    result.since = stamp
                else:
                    result.until = stamp
            elif key == "relevant":
                result.relevant = value.lower() not in ("no", "false", "0", "n")
            elif key and key not in FIELDS:
                # "arn:aws:..." typed bare: the colon belongs to the value.
                result.terms.append(Term(None, f"{key}:{value}".lower(), negate))
            else:
                position = FIELDS.index(key) if key else None
                result.terms.append(Term(position, value.lower(), negate))
        return result

    def matches(self, row: Row) -> bool:
        if self.since is not None and row.ts < self.since:
            return False
        if self.until is not None and row.ts > self.until:
            return False
        if self.relevant is not None and row.relevant != self.relevant:
            return False
        for term in self.terms:
            haystack = row.blob if term.field is None else row.fields[term.field]
            if (term.value in haystack) == term.negate:
                return False
        return True

    def apply(self, rows: Sequence[Row]) -> list[int]:
        """Positions (in ``rows``) of the rows that match, in order."""
        if self.empty:
            return list(range(len(rows)))
        matches = self.matches
        return [i for i, row in enumerate(rows) if matches(row)]


_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H", "%Y-%m-%d",
                 "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
# The span each format covers, so "until:2026-11-20" includes the whole day.
_SPANS = {"%Y-%m-%dT%H:%M:%S": 1, "%Y-%m-%dT%H:%M": 60, "%Y-%m-%dT%H": 3600,
          "%Y-%m-%d": 86400, "%Y-%m-%d %H:%M:%S": 1, "%Y-%m-%d %H:%M": 60}


# Zero-padded only: "2026-11-2" is someone still typing "2026-11-20", not the 2nd.
_TIME_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2})?)?)?")


def parse_time(text: str, *, end: bool = False) -> float | None:
    """Epoch seconds of an ISO 8601 UTC prefix; ``end`` gives the end of its span."""
    text = text.strip().removesuffix("Z").removesuffix("z")
    if not _TIME_SHAPE.fullmatch(text):
        return None
    for fmt in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        stamp = parsed.timestamp()
        return stamp + _SPANS[fmt] - 1e-6 if end else stamp
    return None


def make_row(index: int, event: Event) -> Row:
    label = source_label(event.source)
    fields = (event.actor, event.action, f"{event.source} {label}", event.source_ip,
              event.result, event.target, event.region, event.account, event.service)
    lowered = tuple(value.lower() for value in fields)
    extra = f"{event.description}\x00{event.credential or ''}\x00{event.user_agent}".lower()
    return Row(index, event.time.timestamp(), lowered, "\x00".join((*lowered, extra)),
               event.relevant)


def make_rows(events: Sequence[Event]) -> list[Row]:
    return [make_row(i, event) for i, event in enumerate(events)]
