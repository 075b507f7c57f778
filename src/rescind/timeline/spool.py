"""Items in order within bounded memory: an external merge sort.

Items are held in memory up to ``run_size``; a full buffer is sorted and written to a
temporary file (a run), and reading merges the runs and what is still in memory. A
timeline that fits in one run never touches the disk. Ties keep the order the items
were added, as ``sorted`` did.

What an item is, how it sorts and how a run stores it is a :class:`Codec`:

- :data:`EVENTS` (the default): timeline events, ordered by (time, source, uid). A
  run's line is the event's fields as a plain JSON array, written and parsed by
  pydantic-core's JSON (twice as fast as the json module here, and the same text for
  an SDK's datetimes and bytes as pydantic's dump), read back without validation
  (``event.built``): the spool wrote them from validated events.
- :data:`ROWS`: tuples of plain values (str, bytes, bool, None, tuples) whose first
  value is the sort key, stored with ``marshal`` in blocks: ``rescind timeline
  convert`` spools each event's finished output line (``timeline.rows``), so a run is
  written and read back with no parsing at all.

Measured against SQLite (docs/timeline.md, "Streaming"): the rows would need the same
serialisation, plus an index, and the merge reads each run once in order.

Runs live in an owner-only folder named for the process (``rescind-spool-<pid>-*``);
one left behind by a process that was killed is removed by the next spool that spills.
"""

from __future__ import annotations

import contextlib
import heapq
import marshal
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from pydantic_core import from_json, to_json

from rescind.timeline.event import FIELDS, Event, built

# About 50 MB of parsed CloudTrail events (a record with its raw dict is ~10 KB in memory).
RUN_SIZE = 5_000
# Runs merged at once; more are first merged into one, so open files stay few.
MAX_RUNS = 200
# A run of rows is written in blocks of about this many bytes; reading holds one block
# of each run (200 runs: 50 MB at most).
ROW_BLOCK = 2**18
PREFIX = "rescind-spool-"
_TIME = FIELDS.index("time")

T = TypeVar("T")


def sort_key(event: Event) -> tuple[datetime, str, str]:
    return (event.time, event.source, event.uid)


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How a spool orders its items and stores them in a run."""

    key: Callable[[T], Any]
    write: Callable[[IO[bytes], Iterable[T]], None]
    read: Callable[[IO[bytes]], Iterator[T]]
    run_size: Callable[[], int] = lambda: RUN_SIZE  # read when a spool is made: tests lower it


class Spool:
    """Add items in any order; iterate them in order (as often as needed). Untyped items
    (``codec`` says what they are): most spools hold events, and their users say so."""

    def __init__(self, run_size: int | None = None, directory: Path | None = None,
                 codec: Codec[Any] | None = None, *, part: tuple[Path, int] | None = None
                 ) -> None:
        """``part``: (folder, number) for a spool a worker process fills for another
        spool's :meth:`adopt`: its runs go in that spool's folder, named for the part,
        and are left there when this one closes."""
        self.codec: Codec[Any] = codec or EVENTS
        self.run_size = run_size or self.codec.run_size()
        self.directory = directory
        self.buffer: list[Any] = []
        self.runs: list[Path] = []
        self.count = 0
        self.peak = 0  # the most items held in memory at once (the bound a test asserts)
        self._folder: Path | None = part[0] if part else None
        self._owns_folder = part is None
        self._prefix = f"part{part[1]:05d}-" if part else ""
        self._merges = 0

    def add(self, item: Any) -> None:
        self.buffer.append(item)
        self.count += 1
        if len(self.buffer) >= self.run_size:
            self.peak = max(self.peak, len(self.buffer))
            self._spill()

    def _spill(self) -> None:
        self.buffer.sort(key=self.codec.key)
        self._write_run(f"run{len(self.runs):05d}", self.buffer)
        self.buffer = []
        if len(self.runs) >= MAX_RUNS:
            self._compact()

    def spill(self) -> list[Path]:
        """Write what is still in memory as a run (a worker's last); the runs so far."""
        if self.buffer:
            self.peak = max(self.peak, len(self.buffer))
            self._spill()
        return self.runs

    def folder(self) -> Path:
        """The folder the runs go in, made now if not yet: private to the owner (events
        carry evidence), named for this process."""
        if self._folder is None:
            parent = self.directory or Path(tempfile.gettempdir())
            remove_stale(parent)
            self._folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent))
        return self._folder

    def adopt(self, runs: list[Path], count: int) -> None:
        """Take ``runs`` (sorted, of ``count`` items in all, written by a ``part`` spool
        of this one's folder) as this spool's next. They sort after what was added
        before, for ties: anything still in memory is written first."""
        self.spill()
        self.count += count
        for run in runs:  # one at a time: never more than MAX_RUNS files open to merge
            self.runs.append(run)
            if len(self.runs) >= MAX_RUNS:
                self._compact()

    def _write_run(self, name: str, items: Iterable[Any]) -> None:
        path = self.folder() / f"{self._prefix}{name}.bin"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "wb") as fh:
            self.codec.write(fh, items)
        self.runs.append(path)

    def _compact(self) -> None:
        """Merge every run into one (for inputs past MAX_RUNS * run_size items)."""
        runs, self.runs = self.runs, []
        self._merges += 1  # a name per merge: every merge has MAX_RUNS runs
        # Streamed from the runs to the merged file: never every item in memory at once.
        self._write_run(f"merged{self._merges:05d}", self._merged([], runs))
        for run in runs:
            run.unlink()

    def __iter__(self) -> Iterator[Any]:
        self.peak = max(self.peak, len(self.buffer))
        in_memory = sorted(self.buffer, key=self.codec.key)
        if not self.runs:
            yield from in_memory
            return
        yield from self._merged(in_memory, self.runs)

    def _merged(self, in_memory: list[Any], runs: list[Path]) -> Iterator[Any]:
        files = [run.open("rb") for run in runs]
        try:
            # heapq.merge breaks ties by the iterables' order: runs in the order written,
            # then the buffer, so equal keys keep the order the items were added.
            yield from heapq.merge(*(self.codec.read(fh) for fh in files), in_memory,
                                   key=self.codec.key)
        finally:
            for fh in files:
                fh.close()

    def close(self) -> None:
        self.buffer = []
        self.runs = []
        if self._folder is not None and self._owns_folder:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_stale(parent: Path) -> list[Path]:
    """Remove this user's spool folders in ``parent`` whose process is gone (a convert or
    pull that was killed); returns them. A folder whose process still runs, or whose
    owner cannot be told from its name, is left alone."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    uid = os.getuid()
    for entry in entries:
        named = _NAME.fullmatch(entry.name)
        if named is None:
            continue
        with contextlib.suppress(OSError):
            if (entry.is_dir(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_uid == uid
                    and not _alive(int(named[1])) and _only_runs(Path(entry.path))):
                shutil.rmtree(entry.path)
                removed.append(Path(entry.path))
    return removed


# Exactly what mkdtemp makes of the prefix: a pid, then its eight random characters.
_NAME = re.compile(re.escape(PREFIX) + r"([0-9]{1,7})-[a-z0-9_]{8}")
_RUN = re.compile(r"(part[0-9]{5}-)?(run|merged)[0-9]{5}\.bin")


def _only_runs(folder: Path) -> bool:
    """The folder holds spool runs and nothing else (a folder merely named like one, or
    holding anything of the user's, is not the spool's to remove)."""
    return all(_RUN.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)
               for entry in os.scandir(folder))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _write_events(fh: IO[bytes], events: Iterable[Event]) -> None:
    fh.writelines(map(_line, events))


def _line(event: Event) -> bytes:
    values: list[Any] = [getattr(event, name) for name in FIELDS]
    values[_TIME] = values[_TIME].isoformat()  # read back as it was, naive or not
    return to_json(values) + b"\n"


def _read_events(fh: IO[bytes]) -> Iterator[Event]:
    parse_time = datetime.fromisoformat
    for line in fh:
        values = from_json(line)
        values[_TIME] = parse_time(values[_TIME])
        yield built(dict(zip(FIELDS, values, strict=True)))


EVENTS: Codec[Event] = Codec(sort_key, _write_events, _read_events)


def _write_rows(fh: IO[bytes], rows: Iterable[tuple[Any, ...]]) -> None:
    block: list[tuple[Any, ...]] = []
    size = 0
    for row in rows:
        block.append(row)
        size += len(row[-1]) + len(row[2] or b"")  # the line and the raw record: the bulk
        if size >= ROW_BLOCK:
            _dump_block(fh, block)
            block, size = [], 0
    if block:
        _dump_block(fh, block)


def _dump_block(fh: IO[bytes], block: list[tuple[Any, ...]]) -> None:
    # Each block after its length: marshal.load on a file reads it in many small reads,
    # twenty times slower than loads on the block's bytes read at once.
    data = marshal.dumps(block)
    fh.write(_LENGTH.pack(len(data)))
    fh.write(data)


def _read_rows(fh: IO[bytes]) -> Iterator[tuple[Any, ...]]:
    while length := fh.read(_LENGTH.size):
        yield from marshal.loads(fh.read(_LENGTH.unpack(length)[0]))


_LENGTH = struct.Struct("<Q")


# A row (a key, a line, its record) is ~3 KB in memory against an event's ~10 KB.
ROWS: Codec[tuple[Any, ...]] = Codec(itemgetter(0), _write_rows, _read_rows,
                                     lambda: RUN_SIZE * 4)
