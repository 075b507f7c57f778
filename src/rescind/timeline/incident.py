"""Add events and their evidence to an incident folder's ``timeline.jsonl`` and ``evidence/``.

The caller holds the incident's lock (``rescind.engine.lock.IncidentLock``): the
timeline is rewritten whole (merged, de-duplicated, atomically replaced).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from rescind.errors import UsageError
from rescind.redaction import redact
from rescind.timeline.event import Event
from rescind.timeline.export import export, open_private
from rescind.timeline.merge import merge_stream

TIMELINE_FILE = "timeline.jsonl"
EVIDENCE_DIR = "evidence"


def check_incident(incident_dir: Path) -> None:
    """An incident folder that may still be written to (a sealed one is read-only)."""
    from rescind.record.sealing import ensure_writable

    if not (incident_dir / "journal.jsonl").is_file():
        raise UsageError(f"{incident_dir} is not an incident folder (no journal.jsonl)",
                         fix="pass the folder `rescind run` created, e.g. incidents/<id>")
    ensure_writable(incident_dir, "timeline events")


def load_events(path: Path) -> list[Event]:
    return list(iter_events(path))


def iter_events(path: Path) -> Iterator[Event]:
    """The events of a timeline.jsonl, one at a time (none when there is no file)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield Event.model_validate_json(line)


Shown = Callable[[Iterable[Event], str], Iterable[Event]]


def add_events(incident_dir: Path, events: Iterable[Event],
               shown: Shown = lambda events, what: events) -> int:
    """Merge ``events`` into the incident's timeline.jsonl; returns how many were new.

    Within bounded memory (merge_stream), so a million converted events fit. ``shown``
    passes each stage's events through as they are and may show how many have passed
    (``N {what}``): the timeline's own, read, then all of them, written."""
    check_incident(incident_dir)
    path = incident_dir / TIMELINE_FILE
    existing = [0]

    def counted() -> Iterator[Event]:
        for event in iter_events(path):
            existing[0] += 1
            yield event

    merged = merge_stream([shown(counted(), f"events of the incident's {TIMELINE_FILE} read"),
                           events])
    try:
        written = export(shown(merged, f"events written to {TIMELINE_FILE}, of "
                                       f"{merged.spool.count:,} merged"), path, "jsonl")
    finally:
        merged.spool.close()
    return written - existing[0]


def evidence_path(incident_dir: Path, name: str) -> Path:
    """A new file name under evidence/ (never overwrites what is there)."""
    folder = incident_dir / EVIDENCE_DIR
    folder.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120] or "evidence"
    candidate = folder / stem
    n = 1
    while candidate.exists():
        base, dot, ext = stem.rpartition(".")
        candidate = folder / (f"{base}-{n}.{ext}" if dot else f"{stem}-{n}")
        n += 1
    return candidate


class EvidenceFiles:
    """Raw records written file by file as they stream past, secrets stripped: each
    source file's evidence file is named (and created) up front, in the order given."""

    def __init__(self, incident_dir: Path, names: Iterable[tuple[str, str]]) -> None:
        self.paths: dict[str, Path] = {}
        for key, name in names:
            self.paths[key] = evidence_path(incident_dir, name)
            open_private(self.paths[key]).close()
        self._key: str | None = None
        self._fh: TextIO | None = None

    def write(self, key: str, record: Mapping[str, Any]) -> None:
        if key != self._key:
            self.close()
            self._fh, self._key = self.paths[key].open("a", encoding="utf-8"), key
        assert self._fh is not None
        self._fh.write(json.dumps(redact(dict(record)), separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self._fh = self._key = None


def write_raw_evidence(incident_dir: Path, name: str,
                       records: Iterable[Mapping[str, Any]]) -> Path:
    """Records in their API's own shape, one a line, secrets stripped."""
    path = evidence_path(incident_dir, name)
    with open_private(path) as fh:
        for record in records:
            fh.write(json.dumps(redact(dict(record)), separators=(",", ":")) + "\n")
    return path
