"""Read CloudTrail logs a responder already has, in whatever shape they came.

Understood, gzipped or not: files as CloudTrail delivers them to S3
(``{"Records": [...]}``), LookupEvents responses and ``aws cloudtrail lookup-events``
output (``{"Events": [...]}``, JSON or one page a line), JSON arrays of records or
of Events entries, and JSONL of records or entries. A record that cannot be read
(not JSON, nested too deeply, a time no date can hold, too large for memory) is
counted and reported with its file and position; it never stops the rest. A gzip
file is decompressed as a stream and stopped at a size and a ratio the user can
raise, so a small file cannot expand to fill the memory.

One module past ~450 lines: a file read whole, as a stream, or in parts (a worker's
share of a big JSONL file) goes through the same line reader and names an unreadable
record's position the same way; split, each half would reach into the other's helpers.
"""

from __future__ import annotations

import codecs
import itertools
import json
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pydantic_core import from_json

from rescind.errors import UsageError
from rescind.redaction import is_clean_document, is_clean_json
from rescind.timeline.cloudtrail import (
    SYNTHETIC_ID_PREFIX,
    MalformedRecord,
    from_lookup_event,
    from_record,
    looks_like_lookup_event,
    looks_like_record,
    time_field,
)
from rescind.timeline.event import Event
from rescind.timeline.limits import RATIO_FLOOR_MB, Limits

_CHUNK = 2**20
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Malformed:
    file: str
    position: str  # "line 12", "Records[3]", "line 4 Events[7]", "file"
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.position}: {self.reason}"


@dataclass
class ConvertResult:
    events: list[Event] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)
    files: int = 0
    records: int = 0  # records seen, good or not
    by_file: dict[str, list[Event]] = field(default_factory=dict)
    # Records placed in time by a field other than eventTime, by that field.
    placed_by: Counter[str] = field(default_factory=Counter)
    synthetic_ids: int = 0  # records without eventID, given an id from their content

    def add(self, other: ConvertResult) -> None:
        """Count ``other``'s files (another worker's) as read after this one's."""
        self.files += other.files
        self.records += other.records
        self.malformed.extend(other.malformed)
        self.placed_by.update(other.placed_by)
        self.synthetic_ids += other.synthetic_ids


class Part(NamedTuple):
    """The lines of one JSONL file from byte ``start`` (where a line starts) to ``end``
    (None: the file's end), the first of them numbered ``line``: ``timeline.workers``
    reads a big file in parts, each where a core is free."""

    path: Path
    start: int
    end: int | None
    line: int


def parts(path: Path, size: int) -> list[Part]:
    """``path`` cut at line starts into parts of about ``size`` bytes (the lines before
    each cut counted, for positions), when ``_stream_documents`` would read it as lines:
    plain (not gzip), a first line (not blank) within the first MB that is JSON by
    itself and CloudTrail's, and another line after it that is not blank. Any other file
    is one part, read whole."""
    whole = [Part(path, 0, None, 1)]
    try:
        total = path.stat().st_size
        if total <= 2 * size:
            return whole
        with path.open("rb") as fh:
            head = fh.read(min(size, _CHUNK))
            lines = head.split(b"\n")
            first = next((n for n, line in enumerate(lines[:-1]) if _text(line).strip()), None)
            if head[:2] == b"\x1f\x8b" or first is None:
                return whole  # gzip, or no whole line read
            try:
                doc = _loads(_text(lines[first]))
            except (ValueError, RecursionError, MemoryError):
                return whole  # one document, read whole
            if not _cloudtrail_line(doc):
                return whole  # another log's lines (an Activity Log's): not counted for naught
            if not _more_text(b"\n".join(lines[first + 1:]), fh):
                return whole  # a file of one line: its positions name no line
            return _cut(fh, path, size, total)
    except OSError:
        return whole  # read (and any error reported) as a whole file


def _cloudtrail_line(doc: Any) -> bool:
    """Whether a JSONL line is a CloudTrail record, a LookupEvents entry, a document of
    them, or an array of them (``jq -c .Records``): what ``iter_events`` reads as events."""
    if type(doc) is list:
        return bool(doc) and (looks_like_record(doc[0]) or looks_like_lookup_event(doc[0]))
    return type(doc) is dict and ("Records" in doc or "Events" in doc or looks_like_record(doc)
                                  or looks_like_lookup_event(doc))


def _text(line: bytes) -> str:
    return line.removesuffix(b"\r").decode("utf-8", errors="replace")


def _more_text(rest: bytes, fh: Any) -> bool:
    """Whether ``rest``, or what ``fh`` holds after it, is more than white space (as
    ``str.strip`` sees it, which ``_stream_documents`` uses)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while not decoder.decode(rest).strip():
        rest = fh.read(_CHUNK)
        if not rest:
            return bool(decoder.decode(b"", final=True).strip())
    return True


def _cut(fh: Any, path: Path, size: int, total: int) -> list[Part]:
    cuts = [Part(path, 0, None, 1)]
    at, line = 0, 1  # the line starting at byte ``at``
    fh.seek(0)
    while (target := cuts[-1].start + size) < total - size // 2:
        while at < target:  # the lines on the way counted, a chunk at a time
            chunk = fh.read(min(_CHUNK, target - at))
            if not chunk:
                return cuts
            line += chunk.count(b"\n")
            at += len(chunk)
        while (found := (chunk := fh.read(_CHUNK)).find(b"\n")) < 0:  # the next line start
            if not chunk:
                return cuts
            at += len(chunk)
        at += found + 1
        line += 1
        cuts[-1] = cuts[-1]._replace(end=at)
        cuts.append(Part(path, at, None, line))
        fh.seek(at)
    return cuts


def read_text(path: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[str, str | None]:
    """A file's text, gunzipped when it is gzip (by content, not by name), and why
    its end was not read (a damaged or oversized gzip), if so."""
    try:
        with path.open("rb") as fh:
            if fh.read(2) != b"\x1f\x8b":
                fh.seek(0)
                return fh.read().decode("utf-8", errors="replace"), None
            fh.seek(0)
            data, problem = _gunzip(fh, path.stat().st_size, limits)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", fix="check the path") from None
    return data.decode("utf-8", errors="replace"), problem


def _gunzip(fh: Any, size: int, limits: Limits) -> tuple[bytearray, str | None]:
    """Decompress every gzip member, stopping at the limits; what was decompressed
    before a limit or damage is kept."""
    out = bytearray()
    problem: list[str] = []
    for chunk in _gunzip_chunks(fh, size, limits, problem):
        out += chunk
    return out, problem[0] if problem else None


def _gunzip_chunks(fh: Any, size: int, limits: Limits, problem: list[str]) -> Iterator[bytes]:
    """The decompressed bytes chunk by chunk; why the end was not read, if so, is
    appended to ``problem`` once the chunks are exhausted."""
    cap = min(limits.max_expanded, max(RATIO_FLOOR_MB * 2**20, size * limits.max_ratio))
    done = 0
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b""
    in_member = False
    try:
        while True:
            if not pending:
                pending = fh.read(_CHUNK)
                if not pending:
                    break
            in_member = True
            chunk = inflater.decompress(pending, cap + 1 - done)
            pending = inflater.unconsumed_tail
            if done + len(chunk) > cap:
                yield chunk[:cap - done]
                why = (f"more than {limits.max_expanded // 2**20} MB"
                       if cap == limits.max_expanded
                       else f"more than {limits.max_ratio} times its size")
                problem.append(f"gzip expands to {why}; the rest is skipped (raise "
                               "--max-expanded-mb or --max-ratio if you trust the file)")
                return
            done += len(chunk)
            yield chunk
            if inflater.eof:  # the next member, if any, starts in what is left
                pending = inflater.unused_data
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                in_member = False
    except zlib.error as exc:
        problem.append(f"damaged gzip after {done:,} bytes ({exc}); the rest is skipped")
        return
    if in_member:
        problem.append(f"gzip ends early after {done:,} bytes; the rest is missing")


def _chunks(path: Path, limits: Limits, problem: list[str]) -> Iterator[bytes]:
    """A file's bytes (gunzipped when gzip, by content), a chunk at a time."""
    try:
        with path.open("rb") as fh:
            gzipped = fh.read(2) == b"\x1f\x8b"
            fh.seek(0)
            if gzipped:
                yield from _gunzip_chunks(fh, path.stat().st_size, limits, problem)
                return
            while chunk := fh.read(_CHUNK):
                yield chunk
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", fix="check the path") from None


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """Lines of UTF-8 text (invalid bytes replaced), split at newlines (CR LF too)."""
    parts: list[bytes] = []
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            parts.append(chunk[start:end])
            yield b"".join(parts).removesuffix(b"\r").decode("utf-8", errors="replace")
            parts = []
            start = end + 1
        if start < len(chunk):
            parts.append(chunk[start:])
    if parts:
        yield b"".join(parts).removesuffix(b"\r").decode("utf-8", errors="replace")


def _part_chunks(part: Part) -> Iterator[bytes]:
    """The bytes of ``part``, a chunk at a time."""
    try:
        with part.path.open("rb") as fh:
            at, end = fh.seek(part.start), part.end
            while (end is None or at < end) and (
                    chunk := fh.read(_CHUNK if end is None else min(_CHUNK, end - at))):
                at += len(chunk)
                yield chunk
    except OSError as exc:
        raise UsageError(f"cannot read {part.path}: {exc.strerror}",
                         fix="check the path") from None


def _part_documents(part: Part, name: str,
                    result: ConvertResult) -> Iterator[tuple[str, Any, bool]]:
    """``_stream_documents`` of a part of a JSONL file (``parts``)."""
    lines = enumerate(_lines(_part_chunks(part)), start=part.line)
    for where, doc, line in _line_documents(lines, name, result):
        yield where, doc, is_clean_document(line, doc)


def _stream_documents(path: Path, name: str, limits: Limits,
                      result: ConvertResult) -> Iterator[tuple[str, Any, bool]]:
    """(position prefix, document, nothing to redact in it) as ``json_documents`` finds
    them, read as a stream when the file is JSONL: a first line that is JSON by itself
    means one document a line (or a file of one line), else the file is one document,
    read whole. Whether there is anything to redact is judged on the text, once."""
    problem: list[str] = []
    lines = _lines(_chunks(path, limits, problem))
    head: list[str] = []
    first: Any = None
    for line in lines:
        head.append(line)
        if line.strip():
            try:
                first = _loads(line)
            except (ValueError, RecursionError, MemoryError):
                first = _NOT_A_LINE
            break
    if first is _NOT_A_LINE:
        text = "\n".join([*head, *lines])
        del head
        clean = is_clean_json(text)
        for where, doc in json_documents(text, name, result):
            yield where, doc, clean
    elif head:
        number = len(head)
        second = next(((n, line) for n, line in enumerate(lines, start=number + 1)
                       if line.strip()), None)
        if second is None:
            yield "", first, is_clean_document(head[-1], first)  # a file of one document
        else:
            yield f"line {number} ", first, is_clean_document(head[-1], first)
            for where, doc, line in _line_documents(itertools.chain(
                    [second], enumerate(lines, start=second[0] + 1)), name, result):
                yield where, doc, is_clean_document(line, doc)
    if problem:
        result.records += 1
        result.malformed.append(Malformed(name, "file", problem[0]))


_NOT_A_LINE = object()


def _line_documents(lines: Iterator[tuple[int, str]], name: str,
                    result: ConvertResult) -> Iterator[tuple[str, Any, str]]:
    """(position, document, its text) for each line that is JSON; the others counted."""
    for number, line in lines:
        if not line.strip():
            continue
        try:
            doc = _loads(line)
        except (ValueError, RecursionError, MemoryError) as exc:
            result.records += 1
            reason = (TOO_DEEP if isinstance(exc, RecursionError) else TOO_LARGE
                      if isinstance(exc, MemoryError) else f"not JSON ({_json_reason(exc)})")
            result.malformed.append(Malformed(name, f"line {number}", reason))
        else:
            yield f"line {number} ", doc, line


def _loads(line: str) -> Any:
    """A line's JSON: pydantic-core's parser (twice as fast), else the json module's, which
    reads what it refuses (a lone surrogate's escape, nesting past 200) and says why not."""
    try:
        return from_json(line)
    except ValueError:
        return json.loads(line)


def _items(doc: Any, where: str) -> Iterator[tuple[str, str, Any]]:
    """(position, kind, item) for every record or Events entry in one JSON document.

    ``kind`` is "record" inside ``Records``, "lookup" inside ``Events``, else "any".
    """
    if isinstance(doc, Mapping):
        if isinstance(doc.get("Records"), list):
            for i, item in enumerate(doc["Records"]):
                yield f"{where}Records[{i}]", "record", item
            return
        if isinstance(doc.get("Events"), list):
            for i, item in enumerate(doc["Events"]):
                yield f"{where}Events[{i}]", "lookup", item
            return
        yield where.rstrip(" ") or "document", "any", doc
        return
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            yield f"{where}[{i}]", "any", item
        return
    yield where.rstrip(" ") or "document", "any", doc


def _event(item: Any, kind: str, clean: bool) -> Event:
    if (type(item) is dict and kind != "lookup" and "eventName" in item
            and ("eventID" in item or "eventTime" in item)
            and "CloudTrailEvent" not in item and "EventId" not in item):
        return from_record(item, clean=clean)  # a record, the common case, in one test
    if kind == "record" and isinstance(item, Mapping):
        return from_record(item, clean=clean)
    if kind == "lookup" and isinstance(item, Mapping):
        return from_lookup_event(item, clean=clean)
    if looks_like_lookup_event(item):
        return from_lookup_event(item, clean=clean)
    if looks_like_record(item):
        return from_record(item, clean=clean)
    if isinstance(item, Mapping):
        raise MalformedRecord("neither a CloudTrail record nor a LookupEvents entry")
    raise MalformedRecord(f"expected a JSON object, found {type(item).__name__}")


TOO_DEEP = "nested too deeply to read"
TOO_LARGE = "too large to hold in memory"


def json_documents(text: str, name: str, result: ConvertResult) -> list[tuple[str, Any]]:
    """The file as one JSON document, else as one document a line (JSONL)."""
    try:
        return [("", json.loads(text))]
    except MemoryError:
        result.records += 1
        result.malformed.append(Malformed(name, "document", TOO_LARGE))
        return []
    except RecursionError:
        if "\n" not in text.strip():  # one document, not lines: nothing else to try
            result.records += 1
            result.malformed.append(Malformed(name, "document", TOO_DEEP))
            return []
    except ValueError:
        pass
    return [(where, doc) for where, doc, _ in
            _line_documents(enumerate(text.splitlines(), start=1), name, result)]


def _json_reason(exc: ValueError) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def convert_files(paths: list[Path], limits: Limits = DEFAULT_LIMITS) -> ConvertResult:
    """Normalize every CloudTrail record in ``paths`` (duplicates are kept; merge drops them)."""
    result = ConvertResult()
    for name, event, _ in iter_events(paths, limits, result):
        result.events.append(event)
        result.by_file.setdefault(name, []).append(event)
    return result


def iter_events(paths: Sequence[Path | Part], limits: Limits,
                result: ConvertResult) -> Iterator[tuple[str, Event, bool]]:
    """(file name, event, clean) for every CloudTrail record in ``paths`` (files, or
    parts of JSONL files), as they are read (``clean``: its record's text held nothing
    to redact, ``is_clean_json``); ``result`` counts the files, the records, and keeps
    the unreadable ones (its ``events`` stay empty: memory holds one file's document,
    or one line, at a time)."""
    for path in paths:
        if isinstance(path, Part):
            if path.start == 0:
                result.files += 1
            name = str(path.path)
            documents = _part_documents(path, name, result)
        else:
            result.files += 1
            name = str(path)
            documents = _stream_documents(path, name, limits, result)
        while True:
            try:
                where, doc, clean = next(documents)
            except StopIteration:
                break
            except MemoryError:
                result.records += 1
                result.malformed.append(Malformed(name, "file", TOO_LARGE))
                break
            if type(doc) is dict and "Records" not in doc and "Events" not in doc:
                result.records += 1  # a line of JSONL: one item, named by its line
                event, reason = _convert_one(doc, "any", clean, result)
                if event is None:
                    result.malformed.append(Malformed(name, where.rstrip(" ") or "document",
                                                      str(reason)))
                else:
                    yield name, event, clean
                continue
            for position, kind, item in _items(doc, where):
                result.records += 1
                event, reason = _convert_one(item, kind, clean, result)
                if event is None:
                    result.malformed.append(Malformed(name, position, str(reason)))
                else:
                    yield name, event, clean


def _convert_one(item: Any, kind: str, clean: bool,
                 result: ConvertResult) -> tuple[Event | None, str | None]:
    """One item's event (counted in ``result``), else why it was skipped."""
    try:
        event = _event(item, kind, clean)
    except MalformedRecord as exc:
        return None, str(exc)
    except RecursionError:
        return None, TOO_DEEP
    except MemoryError:
        return None, TOO_LARGE
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. a field of an impossible type
        return None, f"unreadable: {str(exc)[:200]}"
    if (item.get("eventTime") in (None, "") if type(item) is dict else True) and isinstance(
            item, Mapping) and kind != "lookup" and not looks_like_lookup_event(item):
        used = time_field(item)  # (a dict with an eventTime is placed by it)
        if used not in (None, "eventTime"):
            result.placed_by[str(used)] += 1
    if event.uid.startswith(SYNTHETIC_ID_PREFIX):
        result.synthetic_ids += 1
    return event, None
