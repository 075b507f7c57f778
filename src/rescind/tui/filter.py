"""The timeline filter: what a responder types into the filter box, as a predicate.

Syntax (case-insensitive, every term must hold):

    word                  anywhere in the row
    actor:alice           in one column: actor, action, source, ip, result, target,
                          region, account, service
    -word / -result:ok    negation
    since:2026-11-20T10   from this UTC time (ISO 8601, any prefix down to the day)
    until:2026-11-20T11   up to this UTC time
    relevant:yes          only rows marked relevant

Text that does not parse yet (a half-typed time), an unknown field (``foo:bar``)
and ``OR`` are reported in ``problems`` and ignored, so the table never empties
silently while the responder is still typing.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain

from rescind.timeline.event import Event
from rescind.tui.sources import source_label

FIELDS: tuple[str, ...] = ("actor", "action", "source", "ip", "result", "target", "region",
                           "account", "service")
_ALIASES = {"src": "source", "source_ip": "ip", "user": "actor", "from": "since",
            "after": "since", "to": "until", "before": "until", "event": "action"}
_OPERATORS = frozenset({"OR", "AND", "||", "&&"})  # as typed: "or" in lower case is a word
_TOKEN = re.compile(r'(-?)(?:([a-z_]+):)?("([^"]*)"?|\S+)', re.IGNORECASE)


class Rows:
    """The timeline as lower-cased columns, built once, so a filter is a few tight passes.

    A term narrows the candidates with one list comprehension over one column
    (the way a column store scans), and a time range on a time-sorted timeline is
    two binary searches; a keystroke on 100,000 events costs milliseconds.

    At a million events a full scan costs hundreds of milliseconds, so the rows
    also remember recent answers (``memo``): a keystroke that extends a term
    narrows the previous answer instead of the whole timeline, and a backspace
    finds the answer it had a keystroke ago. ``distinct`` holds each column's
    distinct values, so a term every value (or none) contains costs no scan.

    A column with few distinct values (actor, result, source...) also keeps each
    value's row positions (``postings``): a term on it from scratch is the union of
    the positions of the values it matches, read without looking at a row (at a
    million events, a few milliseconds instead of a third of a second). The lists
    share one set of position integers, so they cost 8 bytes a row a column.
    """

    def __init__(self, events: Sequence[Event]) -> None:
        self.columns: list[list[str]] = [[] for _ in FIELDS]
        self.blob: list[str] = []
        self.ts: list[float] = []
        self.relevant: list[bool] = []
        for event in events:
            values = (event.actor, event.action,
                      f"{event.source} {source_label(event.source)}", event.source_ip,
                      event.result, event.target, event.region, event.account, event.service)
            lowered = [value.lower() for value in values]
            for column, value in zip(self.columns, lowered, strict=True):
                column.append(value)
            extra = f"{event.description}\x00{event.credential or ''}\x00{event.user_agent}"
            self.blob.append("\x00".join((*lowered, extra.lower())))
            self.ts.append(event.time.timestamp())
            self.relevant.append(event.relevant)
        self.time_sorted = all(a <= b for a, b in zip(self.ts, self.ts[1:], strict=False))
        self.same_day = bool(self.ts) and (
            datetime.fromtimestamp(min(self.ts), UTC).date()
            == datetime.fromtimestamp(max(self.ts), UTC).date())
        self.relevant_count = self.relevant.count(True)  # for the status line, per keystroke
        self.memo: dict[_Key, Sequence[int]] = {}
        self.distinct = [frozenset(column) for column in self.columns]
        numbers = list(range(len(self.ts)))  # the position integers every posting shares
        self.postings: list[dict[str, list[int]] | None] = [
            _postings(numbers, column) if len(values) * 4 < len(column) else None
            for column, values in zip(self.columns, self.distinct, strict=True)]

    def set_relevant(self, index: int, relevant: bool) -> None:
        """Flag one row; answers that depended on the flags are forgotten."""
        self.relevant_count += relevant - self.relevant[index]
        self.relevant[index] = relevant
        self.memo = {key: found for key, found in self.memo.items() if key[3] is None}

    def __len__(self) -> int:
        return len(self.ts)


def _postings(numbers: list[int], column: list[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for position, text in zip(numbers, column, strict=True):
        found.setdefault(text, []).append(position)
    return found


@dataclass(frozen=True)
class Term:
    field: int | None  # index into FIELDS; None: anywhere
    value: str
    negate: bool = False


# A filter's meaning: (terms, since, until, relevant); the text's spacing does not count.
_Key = tuple[tuple[Term, ...], float | None, float | None, bool | None]
_MEMO_ROWS = 4_000_000  # row positions the memo may hold in all (a few tens of MB)


@dataclass
class EventFilter:
    terms: list[Term] = field(default_factory=list)
    since: float | None = None
    until: float | None = None
    relevant: bool | None = None
    problems: list[str] = field(default_factory=list)

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
            if not key and value in _OPERATORS:
                result.problems.append(f"{value} is not supported: every term must hold")
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
            elif key == "arn":
                # "arn:aws:..." typed bare: the colon belongs to the value.
                result.terms.append(Term(None, f"{key}:{value}".lower(), negate))
            elif key and key not in FIELDS:
                result.problems.append(f"unknown field {key}: (use {', '.join(FIELDS)})")
            else:
                position = FIELDS.index(key) if key else None
                result.terms.append(Term(position, value.lower(), negate))
        return result

    @property
    def key(self) -> _Key:
        return tuple(self.terms), self.since, self.until, self.relevant

    def apply(self, rows: Rows) -> Sequence[int]:
        """Positions of the matching events, in timeline order (a range: all of them)."""
        key = self.key
        found = rows.memo.get(key)
        if found is None:
            found = self._narrow(rows)
            while rows.memo and sum(map(len, rows.memo.values())) + len(found) > _MEMO_ROWS:
                del rows.memo[next(iter(rows.memo))]  # the oldest answer goes first
            rows.memo[key] = found
        return found

    def _refines(self, key: _Key) -> bool:
        """Every row this filter matches also matches ``key``'s (the typing-on case)."""
        terms, since, until, relevant = key
        if (since, until, relevant) != (self.since, self.until, self.relevant):
            return False
        pending = list(self.terms)
        for old in terms:
            same = next((t for t in pending if t.field == old.field and t.negate == old.negate
                         and (t.value == old.value or (not t.negate and old.value in t.value))),
                        None)
            if same is None:
                return False
            pending.remove(same)
        return True

    def _narrow(self, rows: Rows) -> Sequence[int]:
        # The smallest remembered answer this filter refines, or the smallest term
        # the postings answer, is where its scan starts.
        start: Sequence[int] | None = None
        for key, found in rows.memo.items():
            if (start is None or len(found) < len(start)) and self._refines(key):
                start = found
        posted = self._posted(rows)
        if (start is not None and not isinstance(start, range)
                and len(start) < min((size for _, _, size in posted), default=len(rows))):
            return self._terms(rows, start)
        return self._scan(rows, posted)

    def _posted(self, rows: Rows) -> list[tuple[Term, list[list[int]], int]]:
        """The terms on columns with postings that remove rows: the positions of the
        values each matches, and how many they are."""
        found: list[tuple[Term, list[list[int]], int]] = []
        for term in self.terms:
            postings = rows.postings[term.field] if term.field is not None else None
            if postings is None:
                continue
            lists = [positions for text, positions in postings.items()
                     if (term.value in text) != term.negate]
            if len(lists) < len(postings):  # else every value holds: it removes nothing
                found.append((term, lists, sum(map(len, lists))))
        return found

    def _scan(self, rows: Rows,
              posted: list[tuple[Term, list[list[int]], int]]) -> Sequence[int]:
        candidates: Sequence[int] = range(len(rows))
        if self.since is not None or self.until is not None:
            low = self.since if self.since is not None else float("-inf")
            high = self.until if self.until is not None else float("inf")
            if rows.time_sorted:
                candidates = range(bisect_left(rows.ts, low), bisect_right(rows.ts, high))
            else:
                ts = rows.ts
                candidates = [i for i in candidates if low <= ts[i] <= high]
        done: Term | None = None
        if posted and isinstance(candidates, range):
            # The smallest posted term's positions within the range: that term holds
            # for every one of them, the other terms narrow them.
            done, lists, _ = min(posted, key=lambda found: found[2])
            # One value's list as it is; more: merging sorted runs, which sorting is.
            positions = lists[0] if len(lists) == 1 else sorted(chain.from_iterable(lists))
            candidates = positions[bisect_left(positions, candidates.start):
                                   bisect_left(positions, candidates.stop)]
        if self.relevant is not None:
            flags, wanted = rows.relevant, self.relevant
            candidates = [i for i in candidates if flags[i] == wanted]
        return self._terms(rows, candidates, done)

    def _terms(self, rows: Rows, candidates: Sequence[int],
               done: Term | None = None) -> Sequence[int]:
        # Field terms first: a column is shorter to scan than the whole row.
        terms = list(self.terms)
        if done is not None:
            terms.remove(done)
        for term in sorted(terms, key=lambda t: t.field is None):
            column = rows.blob if term.field is None else rows.columns[term.field]
            value = term.value
            if term.field is not None and len(rows.distinct[term.field]) * 4 < len(candidates):
                values = rows.distinct[term.field]
                hits = sum(value in text for text in values)
                if hits == (0 if term.negate else len(values)):
                    continue  # every value holds: the term removes nothing
                if hits == (len(values) if term.negate else 0):
                    return []
            if isinstance(candidates, range) and len(candidates) == len(column):
                candidates = ([i for i, text in enumerate(column) if value not in text]
                              if term.negate else
                              [i for i, text in enumerate(column) if value in text])
            elif term.negate:
                candidates = [i for i in candidates if value not in column[i]]
            else:
                candidates = [i for i in candidates if value in column[i]]
        # Every row: a range, so the next keystroke scans columns, not a million positions.
        return range(len(rows)) if len(candidates) == len(rows) else candidates


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

