"""Events in time order within bounded memory: an external merge sort.

Events are held in memory up to ``run_size``; a full buffer is sorted and written to a
temporary file (a run, one event a line), and reading merges the runs and what is
still in memory. A timeline that fits in one run never touches the disk. The order is
(time, source, uid), ties kept in the order the events were added, as ``sorted`` did.

A run's line is the event's fields as a plain JSON array, written and parsed by
pydantic-core's JSON (twice as fast as the json module here, and the same text for
an SDK's datetimes and bytes as pydantic's dump), and read back without validation
(``event.built``): the spool wrote them from validated events.

Measured against SQLite (docs/timeline.md, "Streaming"): the rows would need the same
serialisation, plus an index, and the merge reads each run once in order.
"""

from __future__ import annotations

import heapq
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pydantic_core import from_json, to_json

from rescind.timeline.event import FIELDS, Event, built

# About 50 MB of parsed CloudTrail events (a record with its raw dict is ~10 KB in memory).
RUN_SIZE = 5_000
# Runs merged at once; more are first merged into one, so open files stay few.
MAX_RUNS = 200
_TIME = FIELDS.index("time")


def sort_key(event: Event) -> tuple[datetime, str, str]:
    return (event.time, event.source, event.uid)


class Spool:
    """Add events in any order; iterate them in time order, or ``key``'s (as often as needed)."""

    def __init__(self, run_size: int | None = None, directory: Path | None = None,
                 key: Callable[[Event], Any] = sort_key) -> None:
        self.run_size = run_size or RUN_SIZE  # read when made: a test may lower it
        self.key = key  # another order for a fold by something else than time
        self.directory = directory
        self.buffer: list[Event] = []
        self.runs: list[Path] = []
        self.count = 0
        self.peak = 0  # the most events held in memory at once (the bound a test asserts)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def add(self, event: Event) -> None:
        self.buffer.append(event)
        self.count += 1
        self.peak = max(self.peak, len(self.buffer))
        if len(self.buffer) >= self.run_size:
            self._spill()

    def _spill(self) -> None:
        if self._tmp is None:  # private to the owner: events carry evidence
            self._tmp = tempfile.TemporaryDirectory(prefix="rescind-spool-", dir=self.directory)
        path = Path(self._tmp.name) / f"run{len(self.runs):05d}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "wb") as fh:
            self.buffer.sort(key=self.key)
            fh.writelines(map(_line, self.buffer))
        self.runs.append(path)
        self.buffer = []
        if len(self.runs) >= MAX_RUNS:
            self._compact()

    def _compact(self) -> None:
        """Merge every run into one (for inputs past MAX_RUNS * run_size events)."""
        assert self._tmp is not None
        path = Path(self._tmp.name) / f"merged{len(self.runs):05d}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "wb") as out:
            out.writelines(map(_line, self._merged([])))
        for run in self.runs:
            run.unlink()
        self.runs = [path]

    def __iter__(self) -> Iterator[Event]:
        in_memory = sorted(self.buffer, key=self.key)
        if not self.runs:
            yield from in_memory
            return
        yield from self._merged(in_memory)

    def _merged(self, in_memory: list[Event]) -> Iterator[Event]:
        files = [run.open("rb") for run in self.runs]
        try:
            # heapq.merge breaks ties by the iterables' order: runs in the order written,
            # then the buffer, so equal keys keep the order the events were added.
            yield from heapq.merge(*(_read(fh) for fh in files), in_memory, key=self.key)
        finally:
            for fh in files:
                fh.close()

    def close(self) -> None:
        self.buffer = []
        self.runs = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _line(event: Event) -> bytes:
    values: list[Any] = [getattr(event, name) for name in FIELDS]
    values[_TIME] = values[_TIME].isoformat()  # read back as it was, naive or not
    return to_json(values) + b"\n"


def _read(fh: IO[bytes]) -> Iterator[Event]:
    parse_time = datetime.fromisoformat
    for line in fh:
        values = from_json(line)
        values[_TIME] = parse_time(values[_TIME])
        yield built(dict(zip(FIELDS, values, strict=True)))
