"""Closing an incident record, resumably: the close checkpoint, report.md, the seal.

Sealing is a sequence of writes (the close checkpoint's line and signature,
``report.md`` (and an exercise's ``after-action.md`` and ``.svg``),
``allowed_signers``, ``SHA256SUMS.sig``, ``SHA256SUMS``); a crash can stop it
after any of them. ``finish_seal`` does whatever is left and nothing
twice, so the engine's close and ``rescind seal`` / ``rescind resume`` after a
crash run the same code. A sealed record is read-only: ``ensure_writable`` is
what every writer into an incident folder asks first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rescind.errors import UsageError
from rescind.record.bundle import SUMS, SUMS_SIG, Sealed, seal
from rescind.record.checkpoint import Anchor, anchors_in, checkpoint, sign_through
from rescind.record.journal import Entry, Journal, read_entries, write_private_file
from rescind.record.keys import Signer
from rescind.record.trust import signed_prefix

JOURNAL = "journal.jsonl"


@dataclass(frozen=True)
class SealResult:
    sealed: Sealed
    anchor: Anchor  # of the close checkpoint
    report: Path


def is_closed(incident_dir: Path) -> bool:
    """Closed (sealed, or sealing): the journal has a close entry, or a seal file exists."""
    if (incident_dir / SUMS).exists() or (incident_dir / SUMS_SIG).exists():
        return True
    journal = incident_dir / JOURNAL
    if not journal.is_file():
        return False
    return any(e.kind == "incident.close" for e in read_entries(journal, allow_torn=True))


def ensure_writable(incident_dir: Path, what: str = "this") -> None:
    """Refuse to write into a closed incident: its seal covers the folder as it was."""
    if is_closed(incident_dir):
        raise UsageError(
            f"incident {incident_dir.name} is closed and sealed: its record is read-only, "
            f"so {what} cannot be added to it",
            fix="write it elsewhere (e.g. --out FILE), or start a new incident that names "
                f"this one ({incident_dir.name}) in its inputs")


def approver_lines(entries: Iterable[Entry]) -> list[str]:
    """allowed_signers lines for the approvers whose approvals the journal records."""
    from rescind.record.allowed_signers import signer_line
    from rescind.record.approval import APPROVAL_NAMESPACE

    lines = []
    for entry in entries:
        approver = entry.data.get("approver") if entry.kind == "action.approval" else None
        if isinstance(approver, dict) and entry.data.get("approved"):
            lines.append(signer_line(f'approver-{approver["fingerprint"][7:19]}@rescind',
                                     approver["public_key_line"], APPROVAL_NAMESPACE))
    return sorted(set(lines))


def close_is_trusted(incident_dir: Path, entries: list[Entry]) -> bool:
    """The journal's close is the responder's: signed, or followed and preceded by
    nothing unsigned but what the sealing window leaves. A close inside a longer
    unsigned tail is not trusted: resume re-checks those lines instead."""
    prefix = signed_prefix(incident_dir, entries)
    signed = entries[:prefix.through + 1]
    return any(e.kind == "incident.close" for e in signed) or prefix.sealing_only(entries)


def finish_seal(journal: Journal, signer: Signer, incident_id: str) -> SealResult:
    """Complete the seal of a closed incident: sign the close checkpoint if that was
    not done, write report.md, then the seal. Safe to repeat after a crash anywhere."""
    from rescind.record.report import render_report

    folder = journal.path.parent
    entries = journal.entries()
    prefix = signed_prefix(folder, entries)
    if signer.fingerprint not in prefix.responders:
        # Whoever completes the seal is recorded as a responder before they sign.
        journal.append("incident.resume", {
            "responder": {"name": signer.name, "email": signer.email,
                          "fingerprint": signer.fingerprint},
            "completed_steps": [], "pending_intent": None, "reason": "complete the seal"})
        entries = journal.entries()
    last = entries[-1]
    if last.kind == "checkpoint" and prefix.through == last.seq:
        pass  # the close checkpoint is signed already
    elif last.kind == "checkpoint":
        sign_through(folder, last, journal.sha512(), signer, incident_id)
    else:
        checkpoint(journal, signer, incident_id, "incident closed")
        entries = journal.entries()
    _remove_stale_temp_files(folder)
    anchors = anchors_in(folder, entries, incident_id)
    from rescind.record.timeline_picture import write_timeline_picture

    write_timeline_picture(folder, entries)  # before report.md, which shows it
    report = folder / "report.md"
    write_private_file(report, render_report(folder, entries, signer_email=signer.email,
                                             anchors=anchors).encode())
    from rescind.record.after_action import is_exercise, write_after_action

    if is_exercise(entries):  # the debrief, sealed with the rest
        write_after_action(folder, entries)
    sealed = seal(folder, signer, extra_signers=approver_lines(entries))
    return SealResult(sealed, anchors[-1], report)


def _remove_stale_temp_files(folder: Path) -> None:
    """A crash inside an atomic write leaves its ``.<name>.tmp``; never seal it in."""
    for tmp in folder.rglob(".*.tmp"):
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink()
