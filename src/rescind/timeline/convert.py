"""Read CloudTrail logs a responder already has, in whatever shape they came.

Understood, gzipped or not: files as CloudTrail delivers them to S3
(``{"Records": [...]}``), LookupEvents responses and ``aws cloudtrail lookup-events``
output (``{"Events": [...]}``, JSON or one page a line), JSON arrays of records or
of Events entries, and JSONL of records or entries. A record that cannot be read
(not JSON, nested too deeply, a time no date can hold, too large for memory) is
counted and reported with its file and position; it never stops the rest. A gzip
file is decompressed as a stream and stopped at a size and a ratio the user can
raise, so a small file cannot expand to fill the memory.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescind.errors import UsageError
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
    """Decompress chunk by chunk (every gzip member), stopping at the limits; what
    was decompressed before a limit or damage is kept."""
    cap = min(limits.max_expanded, max(RATIO_FLOOR_MB * 2**20, size * limits.max_ratio))
    out = bytearray()
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
            out += inflater.decompress(pending, cap + 1 - len(out))
            pending = inflater.unconsumed_tail
            if len(out) > cap:
                why = (f"more than {limits.max_expanded // 2**20} MB"
                       if cap == limits.max_expanded
                       else f"more than {limits.max_ratio} times its size")
                del out[cap:]
                return out, (f"gzip expands to {why}; the rest is skipped "
                                          "(raise --max-expanded-mb or --max-ratio if you "
                                          "trust the file)")
            if inflater.eof:  # the next member, if any, starts in what is left
                pending = inflater.unused_data
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                in_member = False
    except zlib.error as exc:
        return out, f"damaged gzip after {len(out):,} bytes ({exc}); the rest is skipped"
    if in_member:
        return out, f"gzip ends early after {len(out):,} bytes; the rest is missing"
    return out, None


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


def _event(item: Any, kind: str) -> Event:
    if kind == "record" and isinstance(item, Mapping):
        return from_record(item)
    if kind == "lookup" and isinstance(item, Mapping):
        return from_lookup_event(item)
    if looks_like_lookup_event(item):
        return from_lookup_event(item)
    if looks_like_record(item):
        return from_record(item)
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
    documents: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            documents.append((f"line {number} ", json.loads(line)))
        except (ValueError, RecursionError, MemoryError) as exc:
            result.records += 1
            reason = (TOO_DEEP if isinstance(exc, RecursionError) else TOO_LARGE
                      if isinstance(exc, MemoryError) else f"not JSON ({_json_reason(exc)})")
            result.malformed.append(Malformed(name, f"line {number}", reason))
    return documents


def _json_reason(exc: ValueError) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def convert_files(paths: list[Path], limits: Limits = DEFAULT_LIMITS) -> ConvertResult:
    """Normalize every CloudTrail record in ``paths`` (duplicates are kept; merge drops them)."""
    result = ConvertResult()
    for path in paths:
        result.files += 1
        name = str(path)
        try:
            text, problem = read_text(path, limits)
            documents = json_documents(text, name, result)
        except MemoryError:
            result.records += 1
            result.malformed.append(Malformed(name, "file", TOO_LARGE))
            continue
        if problem is not None:
            result.records += 1
            result.malformed.append(Malformed(name, "file", problem))
        for where, doc in documents:
            for position, kind, item in _items(doc, where):
                result.records += 1
                reason = _convert_one(item, kind, name, result)
                if reason is not None:
                    result.malformed.append(Malformed(name, position, reason))
    return result


def _convert_one(item: Any, kind: str, name: str, result: ConvertResult) -> str | None:
    """Add one item's event to ``result``; else why it was skipped."""
    try:
        event = _event(item, kind)
    except MalformedRecord as exc:
        return str(exc)
    except RecursionError:
        return TOO_DEEP
    except MemoryError:
        return TOO_LARGE
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. a field of an impossible type
        return f"unreadable: {str(exc)[:200]}"
    result.events.append(event)
    result.by_file.setdefault(name, []).append(event)
    if isinstance(item, Mapping) and kind != "lookup" and not looks_like_lookup_event(item):
        used = time_field(item)
        if used not in (None, "eventTime"):
            result.placed_by[str(used)] += 1
    if event.uid.startswith(SYNTHETIC_ID_PREFIX):
        result.synthetic_ids += 1
    return None
