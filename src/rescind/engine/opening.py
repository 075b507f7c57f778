"""Opening an incident: the sequence ``start`` and ``resume`` share, and what each adds.

Both open the incident's clouds (``engine/clouds.py``: sandbox → providers → dry-run
guard), then load the signer; if the signer cannot be loaded, the clouds are closed
again, and the caller closes them (``Opened.stop``) if anything after fails, so a
refused start or resume leaves no sandbox or thread pool behind. ``start`` then
creates the incident folder (:func:`create_folder`); ``resume`` first reads the
journal and what it may trust (:func:`recall`, ``engine/trust.py``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rescind.engine.clouds import BlockedSink, open_clouds
from rescind.engine.lock import IncidentLock
from rescind.engine.policy import require_approvers
from rescind.engine.secrecy import secret_input_names
from rescind.engine.trust import TailReview, review
from rescind.errors import RescindError, UsageError
from rescind.modes import Mode
from rescind.record.journal import Entry, Journal
from rescind.record.keys import Signer, load_signer
from rescind.runbook.loader import LoadedRunbook
from rescind.runbook.model import Runbook
from rescind.runbook.validate import coerce_inputs, load_and_validate


@dataclass
class Opened:
    """The clouds and the signer of an incident being started or resumed."""

    providers: dict[str, Any]
    settings: dict[str, Any]
    sink: BlockedSink
    stop: Callable[[], None]  # closes every provider, stops every sandbox
    signer: Signer
    sandboxes: dict[str, Any] = field(default_factory=dict)  # exercise mode's simulated clouds


async def open_resources(runbook: Runbook, runbook_path: Path, mode: Mode,
                         settings: Mapping[str, Any], *, incident_id: str,
                         key: Path | None, email: str | None,
                         scenario: Path | None = None,
                         given: dict[str, Any] | None = None) -> Opened:
    """Approvers checked → sandbox → providers → guard → signer, closing the clouds
    again if the signer fails."""
    require_approvers(runbook, mode, settings)
    clouds = await open_clouds(runbook, runbook_path, mode, settings, scenario=scenario,
                               given=given, incident_id=incident_id)
    try:
        signer = load_signer(key, email=email)
    except BaseException:
        clouds.stop()
        raise
    return Opened(providers=clouds.providers, settings=clouds.settings, sink=clouds.sink,
                  stop=clouds.stop, signer=signer, sandboxes=clouds.sandboxes)


def new_incident_id(runbook_id: str) -> str:
    return f"{datetime.now(UTC):%Y-%m-%d}-{runbook_id}-{secrets.token_hex(3)}"


def create_folder(out_dir: Path, incident_id: str) -> tuple[Path, IncidentLock, Journal]:
    """A new incident's private folder, locked, with an empty journal."""
    os.umask(0o077)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        incident_dir = out_dir.resolve() / incident_id
        incident_dir.mkdir(mode=0o700)
    except OSError as exc:
        raise UsageError(f"cannot create an incident folder in {out_dir}: {exc.strerror}",
                         fix="pass --out a folder you can write to") from None
    lock = IncidentLock(incident_dir)
    lock.acquire()
    return incident_dir, lock, Journal.create(incident_dir / "journal.jsonl")


@dataclass
class Recalled:
    """What an interrupted incident's journal says, as far as resume may trust it."""

    loaded: LoadedRunbook
    tail: TailReview
    inputs: dict[str, Any]  # coerced: the journal's, then the secret ones given again
    secret_inputs: set[str]
    mode: Mode


def recall(incident_dir: Path, journal: Journal, inputs: dict[str, str] | None) -> Recalled:
    """Refuse a closed incident or a changed runbook; rebuild the trusted state."""
    entries = journal.entries()
    _refuse_closed(incident_dir, entries)
    tail = review(incident_dir, entries)
    state = tail.state
    loaded = load_and_validate(Path(state.runbook_path))
    if loaded.sha256 != state.runbook_sha256:
        raise UsageError(
            f"runbook {state.runbook_path} changed since the incident started",
            fix="restore the runbook the incident started with (its sha256 is in "
                "the journal's incident.open entry)")
    runbook = loaded.runbook
    secret_inputs = secret_input_names(runbook)
    # Secret inputs were never journaled: they must be given again.
    merged = {k: str(v) for k, v in state.inputs.items() if k not in secret_inputs}
    merged.update(inputs or {})
    missing = sorted(k for k in secret_inputs
                     if k not in merged and runbook.inputs[k].default is None)
    if missing:
        raise UsageError(
            f"secret input(s) {', '.join(missing)} are not recorded in the journal",
            fix="resume with " + " ".join(f"--input {k}=..." for k in missing))
    return Recalled(loaded=loaded, tail=tail, inputs=coerce_inputs(runbook, merged),
                    secret_inputs=secret_inputs, mode=Mode(state.mode))


def _refuse_closed(incident_dir: Path, entries: list[Entry]) -> None:
    """A closed incident is not resumed; one whose seal was interrupted is completed
    by `rescind seal`. A close among unsigned lines is not trusted: resume goes on
    and re-checks them."""
    from rescind.record.sealing import close_is_trusted, is_closed

    if not is_closed(incident_dir) or not close_is_trusted(incident_dir, entries):
        return
    if (incident_dir / "SHA256SUMS").is_file():
        raise UsageError(f"incident {incident_dir.name} is already closed and sealed",
                         fix=f"check it with `rescind verify {incident_dir}`")
    raise UsageError(f"incident {incident_dir.name} was closed, but its seal was not finished",
                     fix=f"`rescind seal {incident_dir}` completes it")


def recorded_email(entries: list[Entry], key: Path) -> str | None:
    """The email this incident's journal already records for ``key``'s owner.

    Resuming with one's own SSH key then needs no --email again (in the app too).
    """
    from rescind.record.keys import public_key_of
    from rescind.record.sshsig import fingerprint

    try:
        wanted = fingerprint(public_key_of(key))
    except RescindError:
        return None  # load_signer reports the unreadable key properly
    for entry in entries:
        responder = entry.data.get("responder")
        if isinstance(responder, dict) and responder.get("fingerprint") == wanted:
            return str(responder.get("email")) or None
    return None
