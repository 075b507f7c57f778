"""The incident's merged timeline: pulled events plus rescind's own actions."""

from __future__ import annotations

import json
from pathlib import Path

from rescind.record.journal import Entry
from rescind.timeline.event import Event

TIMELINE_FILE = "timeline.jsonl"


def load_timeline(incident_dir: Path, entries: list[Entry]) -> list[Event]:
    from rescind.timeline.merge import event_from_journal, merge

    pulled: list[Event] = []
    path = incident_dir / TIMELINE_FILE
    if path.is_file():
        with path.open(encoding="utf-8") as fh:
            pulled = [Event.model_validate(json.loads(line)) for line in fh if line.strip()]
    own = [e for e in (event_from_journal(entry.data | {"time": entry.time})
                       for entry in entries if entry.kind == "action.outcome") if e]
    relevant: dict[str, bool] = {}
    for entry in entries:
        if entry.kind == "timeline.relevant":
            relevant[entry.data["uid"]] = bool(entry.data.get("relevant", True))
    events = merge([pulled, own])
    for event in events:
        if event.uid in relevant:
            event.relevant = relevant[event.uid]
    return events
