"""The incidents under a folder, with their state, for the home screen and `rescind list`;
and completing a seal a crash interrupted, for `rescind seal`, `resume` and the app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rescind.engine.lock import IncidentLock, is_locked
from rescind.engine.state import RecoveredState, recover
from rescind.errors import UsageError
from rescind.record.journal import read_entries

if TYPE_CHECKING:
    from rescind.record.sealing import SealResult
    from rescind.record.verify import VerifyReport


@dataclass
class IncidentInfo:
    id: str
    dir: Path
    runbook_id: str
    title: str
    mode: str
    started: str
    state: str  # open | interrupted | unsealed | verified | damaged
    where: str = ""  # where an interrupted incident stopped, in words


def incident_state(incident_dir: Path) -> str:
    if is_locked(incident_dir):
        return "open"
    if (incident_dir / "SHA256SUMS.sig").exists():
        from rescind.record.verify import verify_incident

        return "verified" if verify_incident(incident_dir).exit_code == 0 else "damaged"
    from rescind.record.sealing import is_closed

    return "unsealed" if is_closed(incident_dir) else "interrupted"


def stopped_at(state: RecoveredState) -> str:
    """Where an incident stopped: the step under way and how many were finished."""
    finished = len(state.done | state.skipped)
    if state.closed:
        return f"closed after {finished} steps; the seal was not finished"
    if not state.last_step:
        return "opened; no step begun"
    where = "after" if state.last_step in state.done | state.skipped else "in"
    text = f"stopped {where} {state.last_step} ({state.last_phase}); {finished} steps done"
    if state.pending_intent:
        text += "; a change was in flight (re-checked on resume)"
    elif state.aborted:
        text += "; aborted"
    return text


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
                                  started=state.started, state=status,
                                  where=stopped_at(state) if status in ("interrupted",
                                                                        "unsealed") else ""))
    return found


@dataclass(frozen=True)
class SealOutcome:
    status: Literal["already", "tampered", "sealed"]
    report: VerifyReport  # the record verified after (before, when not sealed)
    result: SealResult | None = None  # what sealing wrote, when it did


def complete_seal(incident_dir: Path, *, key: Path | None = None,
                  email: str | None = None) -> SealOutcome | None:
    """Finish the seal of a closed incident a crash interrupted: whatever is left,
    nothing twice. None when the journal has no trusted close (an open incident, or a
    close among unsigned lines: resume it). A record that does not verify is not sealed."""
    from rescind.record.journal import Journal
    from rescind.record.keys import load_signer
    from rescind.record.sealing import close_is_trusted, finish_seal, is_closed
    from rescind.record.verify import verify_incident

    folder = incident_dir.resolve()
    if not (folder / "journal.jsonl").is_file():
        raise UsageError(f"{incident_dir} is not an incident folder (no journal.jsonl)",
                         fix="pass the folder `rescind run` created under incidents/")
    if not is_closed(folder):
        return None
    lock = IncidentLock(folder)
    lock.acquire()
    try:
        with Journal.open(folder / "journal.jsonl", repair_torn=True) as journal:
            if not close_is_trusted(folder, journal.entries()):
                return None
            before = verify_incident(folder)
            if before.status in ("ok", "tampered"):
                return SealOutcome("already" if before.status == "ok" else "tampered", before)
            signer = load_signer(key, email=email)
            result = finish_seal(journal, signer, folder.name)
    finally:
        lock.release()
    return SealOutcome("sealed", verify_incident(folder), result)
