"""The append-only, hash-chained incident journal (record-format.md, "Journal lines").

Each line is compact JSON whose first key is ``prev``: the SHA-256 of the previous
line's exact bytes including its newline. The header is formatted by hand so that
``prev`` is always first and fixed-width (``cut -c10-73`` finds it in shell); the
stored bytes are what is chained and signed, so nothing needs canonicalising.
Every append is written and fsynced before it returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rescind.errors import RescindError

ZERO_HASH = "0" * 64
LINE_PREFIX = b'{"prev":"'
# The exact key order every line has; verify.py holds lines to it.
LINE_KEYS = ("prev", "seq", "time", "kind", "data")


class TornJournal(RescindError):
    """The journal's last line has no newline: a crash happened mid-write."""

    exit_code = 2

    def __init__(self, path: Path, dropped: int) -> None:
        super().__init__(
            f"{path}: the last line is incomplete ({dropped} bytes without a newline; "
            "a crash happened while it was written)",
            fix="`rescind resume` drops the torn bytes and records that it did",
        )
        self.dropped = dropped


class JournalCorrupt(RescindError):
    """A line breaks the chain or is not a journal line: never append to it."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}",
                         fix=f"run `rescind verify {path.parent}` to see what was changed")
        self.problem = problem


@dataclass(frozen=True)
class Entry:
    seq: int
    time: str
    kind: str
    data: dict[str, Any]
    line: bytes
    sha256: str  # hex SHA-256 of ``line`` including its "\n": the next line's prev


_second_cache: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """UTC, ISO 8601 with microseconds and Z. The date-and-seconds part is formatted
    once per second: every append pays for this, right after an fsync, when the
    CPU caches are cold and each Python step costs several times its usual time."""
    global _second_cache
    us = time.time_ns() // 1000
    sec, frac = divmod(us, 1_000_000)
    cached_sec, prefix = _second_cache
    if sec != cached_sec:
        prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_cache = (sec, prefix)
    return f"{prefix}.{frac:06d}Z"


# One encoder, built once: json.dumps with options builds a new one on every call.
# allow_nan=False: NaN/Infinity are not JSON and other tools would reject the line.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _not_json(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# CPython's C encoder, made once, halves the cost of an encode (JSONEncoder.encode
# rebuilds it on every call). Same output; without it, the portable path is used.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER = (_c_make_encoder(None, _not_json, json.encoder.encode_basestring, None, ":", ",",
                              False, False, False) if _c_make_encoder is not None else None)


def _dumps(value: Any) -> str:
    if _C_ENCODER is None or isinstance(value, str):
        return _ENCODER.encode(value)
    try:
        return "".join(_C_ENCODER(value, 0))
    except RecursionError:
        raise ValueError("journal data is nested too deeply or refers to itself") from None
_KINDS: dict[str, str] = {}  # kind -> its JSON; the engine uses a few dozen kinds


def parse_line(line: bytes, expect_seq: int | None = None) -> Entry:
    """Parse one stored line (with its newline). Raises ValueError naming what is wrong."""
    if not line.endswith(b"\n"):
        raise ValueError("line does not end with a newline")
    if not line.startswith(LINE_PREFIX):
        raise ValueError('line does not start with {"prev":"')
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or tuple(obj) != LINE_KEYS:
        raise ValueError(f"keys must be exactly {', '.join(LINE_KEYS)} in that order")
    prev, seq, when, kind, data = (obj[k] for k in LINE_KEYS)
    if not (isinstance(prev, str) and len(prev) == 64
            and all(c in "0123456789abcdef" for c in prev)):
        raise ValueError("prev is not a lowercase hex SHA-256")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError("seq is not a non-negative integer")
    if expect_seq is not None and seq != expect_seq:
        raise ValueError(f"seq is {seq}, expected {expect_seq}")
    if not isinstance(when, str) or not isinstance(kind, str) or not kind:
        raise ValueError("time and kind must be strings")
    if not isinstance(data, dict):
        raise ValueError("data is not an object")
    return Entry(seq=seq, time=when, kind=kind, data=data, line=line,
                 sha256=hashlib.sha256(line).hexdigest())


def entry_prev(entry: Entry) -> str:
    """The ``prev`` field of a parsed line (fixed position, see LINE_PREFIX)."""
    return entry.line[9:73].decode("ascii")


def chain_problem(seq: int) -> str:
    return f"prev does not match the hash of line {seq - 1}" if seq else "prev is not zeros"


def _iter_entries(data: bytes, path: Path) -> Iterator[tuple[Entry, int]]:
    """Yield (entry, end offset) for each complete line, checking the chain.

    Raises TornJournal after the last complete line if bytes without a newline follow.
    """
    prev = ZERO_HASH
    start = 0
    seq = 0
    while start < len(data):
        end = data.find(b"\n", start)
        if end < 0:
            raise TornJournal(path, len(data) - start)
        line = data[start:end + 1]
        try:
            entry = parse_line(line, expect_seq=seq)
        except ValueError as exc:
            raise JournalCorrupt(path, f"seq {seq}: {exc}") from None
        if entry_prev(entry) != prev:
            raise JournalCorrupt(path, f"seq {seq}: {chain_problem(seq)}")
        yield entry, end + 1
        prev = entry.sha256
        start = end + 1
        seq += 1


def read_entries(path: Path | str, *, allow_torn: bool = False) -> Iterator[Entry]:
    """Entries of a journal file, in order, with the chain checked as they are read.

    Raises JournalCorrupt at a broken line and TornJournal after the last complete
    line when the file ends mid-line, unless ``allow_torn``: then a torn last line
    (a crash mid-write, which resume repairs) just ends the entries.
    """
    p = Path(path)
    try:
        for entry, _end in _iter_entries(p.read_bytes(), p):
            yield entry
    except TornJournal:
        if not allow_torn:
            raise


def _fsync_dir(path: Path) -> None:
    # Make a new or renamed file's directory entry durable, not just its bytes.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) as 0700, or tighten it to 0700 if it exists."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != 0o700:
        os.chmod(path, 0o700)


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically as a 0600 file (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Journal:
    """An open journal file. ``append`` is safe to call from several threads."""

    def __init__(self, path: Path, fd: int, head: str, ends: list[int],
                 running: Any = None) -> None:
        self._path = path
        self._fd = fd
        self._head = head
        # End offset of each line: bytes_through reads the exact bytes through a seq.
        self._ends = ends
        # SHA-512 of every byte written so far, kept up to date by each commit, so a
        # checkpoint signs the head without re-reading and re-hashing the whole file:
        # the same cost at line 100 and at line 100,000.
        self._sha512 = running if running is not None else hashlib.sha512()
        self._lock = threading.Lock()

    @classmethod
    def create(cls, path: Path | str) -> Journal:
        """Create a new, empty journal (0600; its directory 0700). Refuses to overwrite."""
        p = Path(path)
        ensure_private_dir(p.parent)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError:
            raise RescindError(f"{p} already exists",
                               fix="resume the incident instead of creating it again") from None
        os.fchmod(fd, 0o600)
        _fsync_dir(p.parent)
        return cls(p, fd, ZERO_HASH, [])

    @classmethod
    def open(cls, path: Path | str, *, repair_torn: bool = False) -> Journal:
        """Open an existing journal to append to it, checking its chain first.

        A torn last line raises TornJournal unless ``repair_torn``: then the torn
        bytes are cut off and a ``journal.torn`` entry records how many and their hash.
        """
        p = Path(path)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise RescindError(f"{p} does not exist",
                               fix="pass the incident folder that holds journal.jsonl") from None
        head = ZERO_HASH
        ends: list[int] = []
        torn: TornJournal | None = None
        try:
            for entry, end in _iter_entries(data, p):
                head = entry.sha256
                ends.append(end)
        except TornJournal as exc:
            if not repair_torn:
                raise
            torn = exc
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        good = ends[-1] if ends else 0
        journal = cls(p, fd, head, ends, hashlib.sha512(data[:good]))
        if torn is not None:
            dropped = data[good:]
            os.ftruncate(fd, good)
            os.fsync(fd)
            journal.append("journal.torn", {
                "dropped_bytes": len(dropped),
                "dropped_sha256": hashlib.sha256(dropped).hexdigest(),
            })
        return journal

    @property
    def path(self) -> Path:
        return self._path

    @property
    def head(self) -> str:
        return self._head

    @property
    def next_seq(self) -> int:
        return len(self._ends)

    @staticmethod
    def _encode(kind: str, data: dict[str, Any]) -> tuple[str, str]:
        """The JSON of kind and data; raises before anything is written if they are bad."""
        if not isinstance(kind, str) or not kind:
            raise ValueError("journal entry kind must be a non-empty string")
        if not isinstance(data, dict):
            raise TypeError("journal entry data must be a dict")
        kind_json = _KINDS.get(kind)
        if kind_json is None:
            kind_json = _KINDS.setdefault(kind, _dumps(kind))
        return kind_json, _dumps(data)

    def _line(self, seq: int, now: str, kind_json: str, data_json: str) -> bytes:
        return (f'{{"prev":"{self._head}","seq":{seq},"time":"{now}",'
                f'"kind":{kind_json},"data":{data_json}}}\n').encode()

    def _commit(self, blob: bytes, ends: int | list[int]) -> None:
        """Write and fsync ``blob`` (whole lines ending at offset(s) ``ends``); on failure
        cut the file back so no partial line is left for the next append to chain onto."""
        fd = self._fd
        if fd < 0:
            raise RescindError(f"{self._path} is closed")
        try:
            written = os.write(fd, blob)
            if written < len(blob):
                _write_all(fd, blob[written:])
            os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._ends[-1] if self._ends else 0)
            raise
        if isinstance(ends, int):
            self._ends.append(ends)
        else:
            self._ends.extend(ends)
        self._sha512.update(blob)

    def append(self, kind: str, data: dict[str, Any]) -> Entry:
        """Append one entry; returns once it is on disk (written and fsynced).

        ``Entry.data`` is a shallow copy of ``data`` (decoding the line back would cost
        more than the rest of the append); ``read_entries`` gives the stored form.
        Data that is not JSON (NaN, objects) raises before anything is written.
        """
        kind_json, data_json = self._encode(kind, data)
        with self._lock:
            return self._append_locked(kind, data, kind_json, data_json)

    def append_hashed(self, kind: str, data: dict[str, Any]) -> tuple[Entry, bytes]:
        """Append one entry and return it with the SHA-512 of the whole journal through
        it (what an SSHSIG of the journal signs), taken under the same lock so no other
        append can slip in between."""
        kind_json, data_json = self._encode(kind, data)
        with self._lock:
            entry = self._append_locked(kind, data, kind_json, data_json)
            return entry, self._sha512.copy().digest()

    def _append_locked(self, kind: str, data: dict[str, Any], kind_json: str,
                       data_json: str) -> Entry:
        # Only append_hashed pays for the running SHA-512's digest: a plain append
        # (nearly all of them) has no use for it, and it cost as much as the line's hash.
        seq = len(self._ends)
        now = utc_now()
        line = self._line(seq, now, kind_json, data_json)
        digest = hashlib.sha256(line).hexdigest()
        self._commit(line, (self._ends[-1] if seq else 0) + len(line))
        self._head = digest
        return Entry(seq, now, kind, dict(data), line, digest)

    def append_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Entry]:
        """Append several entries with one write and one fsync (group commit)."""
        encoded = [(kind, *self._encode(kind, data)) for kind, data in items]
        with self._lock:
            head = self._head
            seq = len(self._ends)
            size = self._ends[-1] if self._ends else 0
            entries, ends = [], []
            try:
                for (kind, kind_json, data_json), (_k, data) in zip(encoded, items, strict=True):
                    now = utc_now()
                    line = self._line(seq, now, kind_json, data_json)
                    digest = hashlib.sha256(line).hexdigest()
                    entries.append(Entry(seq, now, kind, dict(data), line, digest))
                    self._head = digest
                    size += len(line)
                    ends.append(size)
                    seq += 1
                self._commit(b"".join(e.line for e in entries), ends)
            except BaseException:
                self._head = head
                raise
        return entries

    def sha512(self) -> bytes:
        """The SHA-512 of the whole journal as written so far."""
        with self._lock:
            return self._sha512.copy().digest()

    def bytes_through(self, seq: int) -> bytes:
        """The journal's exact bytes from its start through line ``seq`` (inclusive)."""
        with self._lock:
            if not 0 <= seq < len(self._ends):
                raise ValueError(f"seq {seq} is not in the journal (next is {len(self._ends)})")
            end = self._ends[seq]
        with open(self._path, "rb") as f:
            data = f.read(end)
        if len(data) != end:
            raise JournalCorrupt(self._path, "the file is shorter than what was written to it")
        return data

    def entries(self) -> list[Entry]:
        return list(read_entries(self._path))

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
