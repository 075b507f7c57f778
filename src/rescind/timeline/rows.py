"""A converted event as the merge holds it: its finished output line, not the event.

``rescind timeline convert`` writes each event's line (in the format asked for) as
soon as the event is read, and spools only (sort key, action, raw record as JSON,
line): the merge sorts and de-duplicates those and the lines are written as they
come, with no event parsed or built twice. Rows are plain tuples (``spool.ROWS``
stores them with marshal).

Two rows of one (time, source, uid) are one record when their raw records are equal
(the same JSON text, else the same text with keys sorted: ``true``, ``1`` and ``1.0``
differ); rows without a raw record are one only with identical lines (an OCSF line
holds its record whole, keys sorted: it is not stored twice). Both copies of a record
differing in anything are kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from rescind.timeline.event import Event
from rescind.timeline.merge import _DUPLICATE, _NEW, Kind, MergedStream
from rescind.timeline.spool import ROWS, Spool

Row = tuple[tuple[str, str, str], str, bytes | None, str]  # key, action, raw, line


def time_key(when: datetime) -> str:
    """A time as text that sorts as the times do: UTC, microseconds always written (a
    time without a zone is taken as UTC, as the timeline's exports do)."""
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return when.isoformat(timespec="microseconds")


def row_of(event: Event, line: str, with_raw: bool = True) -> Row:
    """The event's row; ``with_raw`` False when ``line`` tells its raw record whole (OCSF's
    raw_data: its keys sorted), so equal lines are equal records."""
    raw = event.raw
    return ((time_key(event.time), event.source, event.uid), event.action,
            None if raw is None or not with_raw else _raw_json(raw), line)


def _raw_json(raw: Any) -> bytes:
    try:
        return to_json(raw)
    except PydanticSerializationError:
        # pydantic_core refuses what the json module reads: a record nested past ~255
        # levels, a lone surrogate (\ud800). Such a record is evidence too.
        return json.dumps(raw).encode()


def _same(a: Row, b: Row) -> bool:
    if a[2] is None or b[2] is None:
        return a[3] == b[3]
    # Rare (one time, source and id twice, not byte-equal): key order aside, the same
    # text. Not Python's ==, which takes true for 1 and 1.0 for 1: records that differ.
    return a[2] == b[2] or _canonical(a[2]) == _canonical(b[2])


def _canonical(raw: bytes) -> str:
    return json.dumps(json.loads(raw), sort_keys=True)


def _fold(kept: list[Row], row: Row) -> int:
    if any(_same(k, row) for k in kept):
        return _DUPLICATE
    kept.append(row)
    return _NEW


def _label(row: Row) -> tuple[str, datetime, str]:
    return row[0][2], datetime.fromisoformat(row[0][0]), row[1]


def _key(row: Row) -> tuple[str, str, str]:
    return row[0]


def _ident(row: Row) -> tuple[str, str]:
    return row[0][1], row[0][2]


KIND: Kind[Row] = Kind(_key, _ident, _fold, _label)


def merge_lines(stream: Iterable[tuple[str, Event, bool]], line: Callable[[Event, bool], str],
                *, with_raw: bool = True) -> MergedStream[Row]:
    """Each (file, event, clean) of a source's stream as its ``line`` (``export.line_writer``)
    in a :class:`MergedStream` of rows (close its spool when done); ``with_raw``: see
    :func:`row_of`."""
    spool = Spool(codec=ROWS)
    try:
        spool_rows(spool, stream, line, with_raw=with_raw)
    except BaseException:
        spool.close()
        raise
    return MergedStream(spool, KIND)


def spool_rows(spool: Spool, stream: Iterable[tuple[str, Event, bool]],
               line: Callable[[Event, bool], str], *, with_raw: bool) -> None:
    """Add each event of ``stream`` to ``spool`` as its row."""
    add = spool.add
    for _, event, clean in stream:
        add(row_of(event, line(event, clean), with_raw))
