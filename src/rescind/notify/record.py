"""What the incident's journal already says that notifications depend on.

The journal is the one source: the severity (the runbook's, raised by
``incident.set_severity``), the latest signed anchor, the Slack thread and Jira
ticket earlier messages opened, and every message for the Messages pane. Reading
it (rather than remembering in memory) keeps all of this right after a resume.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rescind.record.checkpoint import anchors_in
from rescind.record.journal import Entry, read_entries

SEVERITY = "incident.severity"
MESSAGE = "notify.message"
DEFAULT_SEVERITY = "medium"


@dataclass(frozen=True)
class Facts:
    incident: str
    severity: str
    anchor: str  # the latest ANCHOR line, "" before the first checkpoint


def entries_of(incident_dir: Path) -> list[Entry]:
    return list(read_entries(incident_dir / "journal.jsonl", allow_torn=True))


def severity(entries: Iterable[Entry]) -> str:
    current = DEFAULT_SEVERITY
    for e in entries:
        if e.kind == "incident.open":
            current = str(e.data.get("severity") or DEFAULT_SEVERITY)
        elif e.kind == SEVERITY:
            current = str(e.data["severity"])
    return current


def facts(incident_dir: Path, entries: list[Entry]) -> Facts:
    anchors = anchors_in(incident_dir, entries, incident_dir.name)
    return Facts(incident_dir.name, severity(entries), anchors[-1].line if anchors else "")


def threads(entries: Iterable[Entry]) -> dict[str, str]:
    """Per recipient, what its first delivered message opened: a Slack ``ts``, a Jira key."""
    found: dict[str, str] = {}
    for e in entries:
        if e.kind == MESSAGE and e.data.get("status") == "sent" and e.data.get("receipt") \
                and e.data.get("thread_key"):
            found.setdefault(str(e.data["recipient"]), str(e.data["receipt"]))
    return found


# What a Jira phase comment is addressed to when no ticket was really created
# (dry-run, exercise): it is blocked or captured, never sent, so no key is needed.
UNSENT_TICKET = "the incident's ticket"


def tickets(entries: Iterable[Entry]) -> dict[str, str]:
    """Per Jira recipient the incident messaged, its ticket's key (a stand-in when
    the message was only would-send or captured)."""
    entries = list(entries)
    messaged = {str(e.data["recipient"]) for e in entries
                if e.kind == MESSAGE and e.data.get("channel") == "jira"
                and e.data.get("status") in ("sent", "would-send", "captured")}
    opened = threads(entries)
    return {name: opened.get(name, UNSENT_TICKET) for name in sorted(messaged)}


def delivered(entries: Iterable[Entry], step: str) -> dict[str, str]:
    """Recipients step ``step`` already delivered to (a retry does not send twice)."""
    return {str(e.data["recipient"]): str(e.data.get("receipt", ""))
            for e in entries if e.kind == MESSAGE and e.data.get("step") == step
            and e.data.get("status") in ("sent", "captured")}


def messages(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """Every message of the incident (sent, captured, would-send, pending or failed),
    oldest first."""
    return [dict(e.data, time=e.time, seq=e.seq) for e in entries if e.kind == MESSAGE]
