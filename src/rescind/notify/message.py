"""What is sent: the rendered text, with the incident id and the latest ANCHOR line.

Every message carries the incident id and the latest anchor, so whoever receives
it holds an outside copy of a checkpoint of the record (docs/verification.md).
``credential_in`` is the plan-time check that refuses to send credential material.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

# Credential material that must never go out by chat, mail or ticket (CSPF 3.3),
# whatever a template pulled in: AWS secret keys written as such, private keys,
# Slack/GitHub/bearer tokens, passwords in URLs.
_CREDENTIAL = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|(?i:aws_secret_access_key|secretaccesskey)[\"'\s:=]+[A-Za-z0-9/+]{40}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{36}\b"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/-]{20,}"
    r"|://[^/\s:@]+:[^/\s@]+@")


@dataclass(frozen=True)
class Message:
    """One rendered notification, the same for every recipient of a step."""

    incident: str
    severity: str
    subject: str
    text: str
    anchor: str  # the latest ANCHOR line, or "" before the first checkpoint
    escalation: str = ""  # an account's escalation link, quoted for the owner

    @property
    def body(self) -> str:
        """Plain text: the message, then the facts every message carries."""
        lines = [self.text.rstrip(), "", f"Incident: {self.incident} (severity {self.severity})"]
        if self.escalation:
            lines.append(f"Escalation: {self.escalation}")
        lines.append(f"Record checkpoint: {self.anchor or '(none yet)'}")
        return "\n".join(lines)

    @property
    def html(self) -> str:
        """The short HTML part of an email."""
        paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
                             for p in self.text.strip().split("\n\n") if p.strip())
        facts = (f"<p>Incident: <b>{html.escape(self.incident)}</b> (severity "
                 f"{html.escape(self.severity)})</p>")
        if self.escalation:
            facts += f"<p>Escalation: {html.escape(self.escalation)}</p>"
        anchor = html.escape(self.anchor or "(none yet)")
        return (f"<html><body>{paragraphs}{facts}<p>Record checkpoint:<br>"
                f"<code>{anchor}</code></p></body></html>")


def default_subject(incident: str, severity: str, text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "update")
    first = first if len(first) <= 90 else first[:87] + "..."
    return f"[{severity}] {incident}: {first}"


def credential_in(text: str) -> bool:
    """Whether ``text`` holds something shaped like credential material."""
    return _CREDENTIAL.search(text) is not None
