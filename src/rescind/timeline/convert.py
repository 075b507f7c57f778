"""Read CloudTrail logs a responder already has, in whatever shape they came.

Understood, gzipped or not: files as CloudTrail delivers them to S3
(``{"Records": [...]}``), LookupEvents responses and ``aws cloudtrail lookup-events``
output (``{"Events": [...]}``, JSON or one page a line), JSON arrays of records or
of Events entries, and JSONL of records or entries. A record that cannot be read
is counted and reported with its file and position; it never stops the rest.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescind.errors import UsageError
from rescind.timeline.cloudtrail import (
    MalformedRecord,
    from_lookup_event,
    from_record,
    looks_like_lookup_event,
    looks_like_record,
)
from rescind.timeline.event import Event


@dataclass(frozen=True)
class Malformed:
    file: str
    position: str  # "line 12", "Records[3]", "line 4 Events[7]"
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


def read_text(path: Path) -> str:
    """A file's text, gunzipped when it is gzip (by content, not by name)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", fix="check the path") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise UsageError(f"{path}: damaged gzip file ({exc})",
                             fix="download the file again") from None
    return data.decode("utf-8", errors="replace")


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


def convert_files(paths: list[Path]) -> ConvertResult:
    """Normalize every CloudTrail record in ``paths`` (duplicates are kept; merge drops them)."""
    result = ConvertResult()
    for path in paths:
        result.files += 1
        text = read_text(path)
        name = str(path)
        try:
            documents: list[tuple[str, Any]] = [("", json.loads(text))]
        except ValueError:
            documents = []
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    documents.append((f"line {number} ", json.loads(line)))
                except json.JSONDecodeError as exc:
                    result.records += 1
                    result.malformed.append(Malformed(name, f"line {number}",
                                                      f"not JSON ({exc.msg})"))
        for where, doc in documents:
            for position, kind, item in _items(doc, where):
                result.records += 1
                try:
                    event = _event(item, kind)
                    result.events.append(event)
                    result.by_file.setdefault(name, []).append(event)
                except MalformedRecord as exc:
                    result.malformed.append(Malformed(name, position, str(exc)))
                except (TypeError, ValueError) as exc:  # e.g. a field of an impossible type
                    result.malformed.append(Malformed(name, position, f"unreadable: {exc}"))
    return result
