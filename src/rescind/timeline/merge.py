"""One timeline from many sources: merged, de-duplicated, in time order.

rescind's own actions join the timeline as events too, built from the journal's
``action.outcome`` entries, so the record shows what the attacker did and what the
responder did about it on one line of time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from rescind.redaction import redact
from rescind.timeline.event import Cloud, Event, Result
from rescind.timeline.spool import Spool, sort_key

T = TypeVar("T")

RESCIND_SOURCE = "rescind"
# Actions that only read: on the timeline, but not flagged for attention.
READ_ONLY_ACTIONS = frozenset({"aws.iam.describe_principal", "aws.iam.find_persistence",
                               "timeline.pull"})
_CLOUDS: dict[str, Cloud] = {"aws": "aws", "azure": "azure", "entra": "azure", "gcp": "gcp"}


@dataclass
class Merged:
    """A merged timeline, with how many copies were dropped and which events share
    an id but not their content (both kept)."""

    events: list[Event]
    duplicates: int = 0
    collisions: list[tuple[Event, Event]] = field(default_factory=list)


def merge(sources: Iterable[Iterable[Event]]) -> list[Event]:
    """All events of all sources, oldest first (see ``merge_counted``)."""
    return merge_counted(sources).events


def merge_counted(sources: Iterable[Iterable[Event]]) -> Merged:
    """All events of all sources, oldest first, each identical event once.

    Two events are the same when they share (source, uid) and their raw records are
    equal, or one has none (a pull and a converted S3 file of one call): the copy
    that carries its raw record wins, and a relevance flag on either is kept. Events
    that share an id but differ are both kept and listed in ``collisions``: a SIEM
    export may reuse ids, and evidence is never dropped on an id alone.
    """
    chosen: dict[tuple[str, str], list[Event]] = {}
    merged = Merged([])
    for source in sources:
        for event in source:
            same_id = chosen.setdefault((event.source, event.uid), [])
            first = same_id[0] if same_id else None
            if _fold(same_id, event) == _DUPLICATE:
                merged.duplicates += 1
            elif first is not None:
                merged.collisions.append((first, event))
    merged.events = sorted((e for same_id in chosen.values() for e in same_id), key=sort_key)
    return merged


_DUPLICATE, _NEW = 0, 1


def _fold(same_id: list[Event], event: Event) -> int:
    """Add ``event`` to the kept events sharing its id: a copy of one of them (the
    copy with a raw record wins, a relevance flag is kept) or a new one."""
    for i, kept in enumerate(same_id):
        if kept.raw is not None and event.raw is not None and kept.raw != event.raw:
            continue
        if kept.raw is None and event.raw is not None:
            same_id[i] = event.model_copy(update={"relevant": kept.relevant or event.relevant})
        elif event.relevant and not kept.relevant:
            same_id[i] = kept.model_copy(update={"relevant": True})
        return _DUPLICATE
    same_id.append(event)
    return _NEW


# Shared ids kept in memory for the report; the rest are only counted.
REPORTED_COLLISIONS = 100


@dataclass(frozen=True)
class Kind(Generic[T]):
    """What a merged stream holds: its order and group (``key``), the id two different
    records may share (``ident``: source and uid), how a copy folds into the kept items
    of its group (``fold``: _DUPLICATE or _NEW), and (uid, time, action) for a report."""

    key: Callable[[T], Any]
    ident: Callable[[T], tuple[str, str]]
    fold: Callable[[list[T], T], int]
    label: Callable[[T], tuple[str, datetime, str]]


EVENTS: Kind[Event] = Kind(sort_key, lambda e: (e.source, e.uid), _fold,
                           lambda e: (e.uid, e.time, e.action))


class MergedStream(Generic[T]):
    """``merge_counted`` within bounded memory, for timelines of millions of events.

    Events go to a :class:`Spool` (sorted runs on disk); iterating yields them oldest
    first, each identical event once. Copies of one record share their time, so they
    meet in one group of equal (time, source, uid) and are folded there exactly as
    ``merge_counted`` does. Ids shared across different times are different records:
    both are kept and counted in ``collision_count`` (a set of 64-bit hashes of the ids
    seen; the first REPORTED_COLLISIONS pairs are kept for the report). One difference
    from ``merge_counted``: an event without a raw record is only folded into a copy
    with one at the same time. Counts are final once an iteration has ended; iterating
    again reads the runs again. ``kind`` says what the spool holds: events (the
    default), or ``timeline.rows``' finished output lines.
    """

    def __init__(self, spool: Spool, kind: Kind[Any] = EVENTS) -> None:
        self.spool = spool
        self.kind: Kind[T] = kind
        self.events = 0
        self.duplicates = 0
        self.collision_count = 0
        self.collisions: list[tuple[T, T]] = []

    def __iter__(self) -> Iterator[T]:
        self.events = self.duplicates = self.collision_count = 0
        self.collisions = []
        seen: set[int] = set()
        pending: dict[tuple[str, str], T] = {}  # shared across times: first not yet known
        key_of, ident = self.kind.key, self.kind.ident
        group: list[T] = []
        group_key: Any = None
        for item in self.spool:
            key = key_of(item)
            if group and key != group_key:
                if len(group) == 1:  # nearly every group: nothing to fold
                    self.events += 1
                    yield from self._count(group, ident(group[0]), seen, pending)
                else:
                    yield from self._flush(group, seen, pending)
                group = []
            group_key = key
            group.append(item)
        if group:
            yield from self._flush(group, seen, pending)
        if pending:
            self._find_firsts(pending)

    def _flush(self, group: list[T], seen: set[int],
               pending: dict[tuple[str, str], T]) -> list[T]:
        kept: list[T] = []
        fold = self.kind.fold
        for item in group:
            if fold(kept, item) == _DUPLICATE:
                self.duplicates += 1
            elif len(kept) > 1:
                self._collide(kept[0], item)
        self.events += len(kept)
        return self._count(kept, self.kind.ident(group[0]), seen, pending)

    def _count(self, kept: list[T], key: tuple[str, str], seen: set[int],
               pending: dict[tuple[str, str], T]) -> list[T]:
        """``kept``, its id counted as a collision when an earlier time had it."""
        digest = hash(key)
        if digest in seen:
            self.collision_count += 1
            if len(self.collisions) + len(pending) < REPORTED_COLLISIONS:
                pending.setdefault(key, kept[0])
        seen.add(digest)
        return kept

    def _collide(self, first: T, other: T) -> None:
        self.collision_count += 1
        if len(self.collisions) < REPORTED_COLLISIONS:
            self.collisions.append((first, other))

    def _find_firsts(self, pending: dict[tuple[str, str], T]) -> None:
        """The earlier item of each id shared across times (one more read of the runs,
        only when there are such ids); a hash that matched another id is not one."""
        firsts: dict[tuple[str, str], T] = {}
        for item in self.spool:
            key = self.kind.ident(item)
            if key in pending and key not in firsts:
                firsts[key] = item
                if len(firsts) == len(pending):
                    break
        for key, other in pending.items():
            first = firsts[key]
            if first is other or self.kind.key(first) == self.kind.key(other):
                self.collision_count -= 1
            else:
                self.collisions.append((first, other))

    def collision_labels(self) -> list[tuple[tuple[str, datetime, str], ...]]:
        """The reported collisions as ((uid, time, action), (uid, time, action))."""
        return [(self.kind.label(a), self.kind.label(b)) for a, b in self.collisions]


class SpooledEvents:
    """A merged timeline waiting on disk (a pull's events, as its pages arrived): its
    length known, iterated oldest first, each identical event once, as often as needed.
    Close it when done (removes its runs)."""

    def __init__(self, spool: Spool) -> None:
        self.merged: MergedStream[Event] = MergedStream(spool)
        for _ in self.merged:  # the counts: one read of the runs
            pass
        self.count, self.duplicates = self.merged.events, self.merged.duplicates

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Event]:
        return iter(self.merged)

    def close(self) -> None:
        self.merged.spool.close()


def merge_stream(sources: Iterable[Iterable[Event]], directory: Path | None = None,
                 run_size: int | None = None) -> MergedStream[Event]:
    """All events of all sources in a :class:`MergedStream` (close its spool when done)."""
    spool = Spool(run_size, directory)
    try:
        for source in sources:
            for event in source:
                spool.add(event)
    except BaseException:
        spool.close()
        raise
    return MergedStream(spool)


def _cloud_of(action: str) -> Cloud:
    return _CLOUDS.get(action.split(".", 1)[0], "local")


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def event_from_journal(entry_data: Mapping[str, Any]) -> Event | None:
    """An ``action.outcome`` journal entry's data (plus its ``time``) → Event, else None.

    Reads keys step, plan_hash, action, targets, ok, outputs, details, error and
    time (the journal entry's time); optional ``by`` names who acted.
    """
    step = entry_data.get("step")
    action = entry_data.get("action")
    when = _time(entry_data.get("time"))
    if not isinstance(step, str) or not isinstance(action, str) or when is None:
        return None
    plan_hash = str(entry_data.get("plan_hash") or "")
    targets = _names(entry_data.get("targets"))
    ok = entry_data.get("ok")
    result: Result = "success" if ok is True else "failure" if ok is False else "unknown"
    error = entry_data.get("error")
    details = entry_data.get("details")
    detail_text = "; ".join(_names(details)) if isinstance(details, list) else (
        str(details) if details else "")
    by = entry_data.get("by")
    actor = by.get("name", "") if isinstance(by, Mapping) else str(by or "")
    text = f"rescind {action}" + (f" on {', '.join(targets)}" if targets else "")
    text += f" (step {step}): " + ("done" if ok else "failed" if ok is False else "outcome unknown")
    if detail_text:
        text += f" — {detail_text}"
    if error:
        text += f" — {error}"
    outputs = entry_data.get("outputs")
    region = str(outputs.get("region", "")) if isinstance(outputs, Mapping) else ""
    return Event(
        uid=f"rescind:{step}:{plan_hash[:16] or when.isoformat()}",
        time=when, source=RESCIND_SOURCE, cloud=_cloud_of(action), action=action,
        service="rescind", actor=actor or "rescind", actor_type="Responder",
        target=", ".join(targets), result=result,
        error=str(error) if error else None, region=region, description=text,
        relevant=action not in READ_ONLY_ACTIONS,
        raw=redact(dict(entry_data)))
