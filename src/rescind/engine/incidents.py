"""The incidents under a folder, with their state, for the home screen and `rescind list`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rescind.engine.lock import is_locked
from rescind.engine.state import recover
from rescind.record.journal import read_entries


@dataclass
class IncidentInfo:
    id: str
    dir: Path
    runbook_id: str
    title: str
    mode: str
    started: str
    state: str  # open | interrupted | closed | verified | damaged


def incident_state(incident_dir: Path) -> str:
    if is_locked(incident_dir):
        return "open"
    if (incident_dir / "SHA256SUMS.sig").exists():
        from rescind.record.verify import verify_incident

        return "verified" if verify_incident(incident_dir).exit_code == 0 else "damaged"
    return "interrupted"


def list_incidents(root: Path = Path("incidents")) -> list[IncidentInfo]:
    """Newest first. A folder whose journal cannot be read is listed as damaged."""
    found: list[IncidentInfo] = []
    if not root.is_dir():
        return found
    for folder in sorted(root.iterdir(), reverse=True):
        journal = folder / "journal.jsonl"
        if not journal.is_file():
            continue
        try:
            # A torn last line is a crash mid-write, which resume repairs: interrupted.
            state = recover(read_entries(journal, allow_torn=True))
            status = incident_state(folder)
        except Exception:
            found.append(IncidentInfo(folder.name, folder, "?", "(unreadable journal)",
                                      "?", "", "damaged"))
            continue
        found.append(IncidentInfo(id=folder.name, dir=folder, runbook_id=state.runbook_id,
                                  title=state.runbook_title, mode=state.mode,
                                  started=state.started, state=status))
    return found
