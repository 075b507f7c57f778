"""Messages the engine sends by itself, through the notify provider (docs/notify.md).

Runbook steps send with ``notify.send``; these need no step: a request for a
second approver when a plan needs two people (``[notify] approval_requests``), a
comment on the incident's Jira ticket at the end of each phase, and the sealed
report.md attached to it at close. They take the same path as ``notify.send``
(``rescind.notify.outbox``): the provider's one transport, so dry-run blocks and
journals them ("would send ..."), exercise captures them, and every one is a
``notify.message`` entry and a ``message`` event. None of them fails the
incident: a failed delivery is journaled as ``failed`` and shown as a warning.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rescind.actions.base import Plan
from rescind.engine.policy import required_approval
from rescind.engine.responder import Approval, EventKind, StepState, StepStatus
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.notify import outbox, record
from rescind.notify.channels import build
from rescind.notify.message import Message, credential_in
from rescind.notify.settings import Recipient

if TYPE_CHECKING:
    from rescind.engine.session import IncidentSession

APPROVAL_REQUEST = "approval-request"
PHASE_COMMENT = "phase-comment"
SEALED_REPORT = "sealed-report"


def _provider(session: IncidentSession) -> Any:
    return (session._providers or {}).get("notify")


def _message(session: IncidentSession, subject: str, text: str) -> Message:
    facts = record.facts(session.incident_dir, session.journal_entries())
    return Message(facts.incident, facts.severity, subject, text, facts.anchor)


async def _deliver(session: IncidentSession, provider: Any, name: str, recipient: Recipient,
                   message: Message, extra: dict[str, Any], *, thread: str | None = None,
                   attach: bytes | None = None) -> None:
    """One message, journaled (or, once sealed, only shown) whatever its outcome."""
    journal = session._append if not session.closed else _shown_only
    try:
        delivery = build(name, recipient, message, provider.channel_settings(),
                         secret=provider.secret_for(name, recipient), thread=thread,
                         attach=attach)
    except ActionError as exc:  # a missing secret or setting: nothing could be built
        shown = {"recipient": name, "channel": recipient.channel, "target": recipient.to,
                 "subject": message.subject}
        entry = outbox.failed(shown, message.body, exc, journal, extra)
    else:
        try:
            entry = await outbox.send(provider, delivery, recipient, journal, extra)
        except ActionError as exc:
            entry = outbox.failed(delivery.shown(), delivery.text, exc, journal, extra)
    # After the seal the event is the only record; front ends list it beside the journal's.
    session._emit(EventKind.MESSAGE, **entry, **({"journaled": False} if session.closed else {}))
    if entry["status"] == "failed":
        session._emit(EventKind.WARNING, message=f"could not send to {name}: {entry['error']}"
                                                 f" ({entry['fix']})")


def _shown_only(kind: str, data: dict[str, Any]) -> None:
    """After the seal the journal is read-only: the event is the only record."""


def _refused(session: IncidentSession, provider: Any, text: str) -> bool:
    """A message that would carry a secret is not sent (CSPF 3.3), and says so."""
    if session._secrets.scrub(text) == text and not credential_in(text) and not any(
            v in text for v in provider.secret_values()):
        return False
    session._emit(EventKind.WARNING, message="a notification was not sent: it would have "
                                             "carried a secret value")
    return True


# ------------------------------------------------------------- two-person approvals

async def request_approval(session: IncidentSession, state: StepState, plan: Plan,
                           plan_file: Path) -> None:
    """Post the plan's summary, hash and `rescind approve` command to the configured
    recipients when the plan needs a second person (in dry-run, where it is only
    confirmed, the guard journals what would have been posted)."""
    provider = _provider(session)
    if provider is None or not provider.settings.approval_requests:
        return
    if required_approval(plan, Mode.LIVE) is not Approval.TWO_PERSON:
        return
    entries = session.journal_entries()
    asked = {str(e.data.get("recipient")) for e in entries if e.kind == record.MESSAGE
             and e.data.get("purpose") == APPROVAL_REQUEST
             and e.data.get("plan_hash") == plan.digest and e.data.get("status") != "failed"}
    severity = record.severity(entries)
    routing = provider.route(provider.settings.approval_requests, severity, [])
    for unrouted in routing.unrouted:
        session._emit(EventKind.WARNING, message=f"approval request not sent: {unrouted}")
    who = session.signer
    text = (f"Step {state.id} ({state.title}) needs a second approver (two-person rule) "
            "before rescind applies it.\n\n"
            f"Plan: {plan.summary}\nPlan hash: {plan.digest}\n"
            f"Requested by: {who.name} <{who.email}>\n\n"
            "A second responder checks the plan and signs it with:\n"
            f"  rescind approve {shlex.quote(str(plan_file))}\n"
            f"then sends the token to {who.name}.")
    message = _message(session, f"Approval needed: {state.id} ({session.incident_id})", text)
    if _refused(session, provider, text):
        return
    extra = {"step": state.id, "purpose": APPROVAL_REQUEST, "plan_hash": plan.digest}
    threads = record.threads(entries)
    for found in routing.recipients:
        if found.name not in asked:
            await _deliver(session, provider, found.name, found.recipient, message, extra,
                           thread=threads.get(found.name))


# ------------------------------------------------------------------- Jira ticket

def _tickets(session: IncidentSession, provider: Any) -> list[tuple[str, Recipient, str]]:
    """The incident's Jira tickets: (recipient, its settings, the ticket key)."""
    stand_in_ok = provider.guarded or provider.capturing
    found = []
    for name, key in record.tickets(session.journal_entries()).items():
        recipient = provider.recipients.get(name)
        if recipient is not None and (key != record.UNSENT_TICKET or stand_in_ok):
            found.append((name, recipient, key))
    return found


async def phase_ended(session: IncidentSession, phase: str) -> None:
    """Comment on the incident's ticket: which steps of the phase were done or skipped."""
    provider = _provider(session)
    if provider is None or not provider.settings.jira.phase_comments:
        return
    steps = [s for s in session.steps if s.phase == phase]
    tickets = _tickets(session, provider) if steps else []
    if not tickets:  # no ticket yet, or a phase the runbook leaves empty
        return
    done = sum(s.status is StepStatus.DONE for s in steps)
    skipped = sum(s.status is StepStatus.SKIPPED for s in steps)
    lines = [f"Phase {phase} ended: {done} of {len(steps)} steps done, {skipped} skipped."]
    lines += [f"- {s.id}: {s.status.value}" for s in steps]
    message = _message(session, f"{session.incident_id}: phase {phase} ended", "\n".join(lines))
    for name, recipient, key in tickets:
        await _deliver(session, provider, name, recipient, message,
                       {"phase": phase, "purpose": PHASE_COMMENT}, thread=key)
    # Signed at once, as after any step that told someone: a crash here leaves no
    # unsigned lines for resume to question.
    session._checkpoint(f"after phase {phase}'s ticket comment", phase=phase)


@dataclass(frozen=True)
class Pending:
    """A sealed report to attach once the seal exists."""

    name: str
    recipient: Recipient
    key: str


async def before_close(session: IncidentSession) -> list[Pending]:
    """Journal, while the journal is still open, that the sealed report will be attached
    (in dry-run: the guard's "would send", and nothing is left to do after the seal)."""
    provider = _provider(session)
    if provider is None or not provider.settings.jira.attach_sealed_report:
        return []
    pending = []
    extra = {"purpose": SEALED_REPORT}
    for name, recipient, key in _tickets(session, provider):
        if provider.guarded:
            message = _message(session, f"{session.incident_id}: closed, report.md sealed",
                               "The incident is closed; the sealed report.md would be "
                               "attached.")
            await _deliver(session, provider, name, recipient, message, extra, thread=key)
            continue
        entry = {**extra, "recipient": name, "channel": "jira", "target": key,
                 "subject": "report.md, sealed at close", "status": "pending",
                 "text": "attached once the record is sealed; the receipt is shown, not "
                         "journaled (the seal covers the journal)"}
        session._append(record.MESSAGE, entry)
        session._emit(EventKind.MESSAGE, **entry)
        pending.append(Pending(name, recipient, key))
    return pending


async def after_seal(session: IncidentSession, pending: list[Pending], report: Path,
                     verify_command: str) -> None:
    """Attach the sealed report.md: the ticket then holds the file SHA256SUMS signs."""
    provider = _provider(session)
    if provider is None or not pending:
        return
    data = report.read_bytes()
    import hashlib

    text = (f"The incident is closed and its record sealed. report.md is attached "
            f"(sha256 {hashlib.sha256(data).hexdigest()}); it is listed in the signed "
            f"SHA256SUMS. Verify the record with:\n  {verify_command}")
    message = _message(session, f"{session.incident_id}: closed, report.md sealed", text)
    for p in pending:
        await _deliver(session, provider, p.name, p.recipient, message,
                       {"purpose": SEALED_REPORT}, thread=p.key, attach=data)
