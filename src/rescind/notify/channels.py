"""Each service's exact request for one message to one recipient.

Channels only build requests (``HttpCall`` / ``MailCall``); a transport delivers,
blocks or captures them (``rescind.notify.transport``), so no channel can reach the
network by itself and the dry-run guard holds for all of them at one place.
The secret a request needs is passed in and lives only inside the request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from rescind.errors import ActionError
from rescind.notify.message import Message
from rescind.notify.settings import NotifySettings, Recipient

# PagerDuty's four severities, from the incident's.
PD_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}
JIRA_ISSUE = re.compile(r"^[A-Z][A-Z0-9_]+-\d+$")
Headers = Mapping[str, str]


@dataclass(frozen=True)
class HttpCall:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass(frozen=True)
class MailCall:
    message: EmailMessage
    host: str
    port: int
    security: str  # starttls | tls
    username: str | None
    password: str | None
    ca_file: str | None


@dataclass
class Delivery:
    """One message to one recipient: what is shown, and the request(s) that carry it."""

    recipient: str
    channel: str
    target: str  # for people: never a secret
    subject: str
    text: str
    call: HttpCall | MailCall
    # Reads the service's receipt from (status, headers, body) of the response.
    receipt: Callable[[int, Headers, bytes], str] = lambda status, headers, body: str(status)
    # Requests that follow once the receipt is known (a Jira attachment).
    then: Callable[[str], list[HttpCall]] | None = None

    def shown(self) -> dict[str, str]:
        return {"recipient": self.recipient, "channel": self.channel, "target": self.target,
                "subject": self.subject}


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


_JSON = {"Content-Type": "application/json; charset=utf-8"}


def _field(body: bytes, name: str) -> str:
    try:
        value = json.loads(body or b"{}").get(name)
    except (ValueError, AttributeError):
        return ""
    return str(value) if value is not None else ""


def build(name: str, recipient: Recipient, message: Message, settings: NotifySettings, *,
          secret: str | None, thread: str | None = None, attach: bytes | None = None,
          page: str = "trigger") -> Delivery:
    """The delivery of ``message`` to recipient ``name``.

    ``thread`` is what an earlier message of this incident left: the Slack thread's
    ``ts`` or the Jira ticket's key. ``attach`` is report.md for a Jira ticket.
    """
    builder = _BUILDERS[recipient.channel]
    return builder(name, recipient, message, settings, secret, thread, attach, page)


def _need(secret: str | None, name: str, what: str) -> str:
    if not secret:
        raise ActionError(f"recipient {name!r} has no secret: it needs {what}", kind="config",
                          retryable=False, fix=f"add secret = \"NAME\" to [notify.recipients."
                          f"{name}] and store it with `rescind notify add-secret NAME`")
    return secret


def _slack(name: str, r: Recipient, m: Message, s: NotifySettings, secret: str | None,
           thread: str | None, attach: bytes | None, page: str) -> Delivery:
    value = _need(secret, name, "a Slack incoming-webhook URL or a bot token (xoxb-...)")
    text = f"*{m.subject}*\n{m.body}"
    if value.startswith("xox"):
        if not r.to:
            raise ActionError(f"recipient {name!r}: a Slack bot token needs `to`, the channel",
                              kind="config", retryable=False,
                              fix=f"add to = \"#security\" to [notify.recipients.{name}]")
        body: dict[str, Any] = {"channel": r.to, "text": text}
        if thread:
            body["thread_ts"] = thread
        call = HttpCall(f"{s.slack.api_url.rstrip('/')}/chat.postMessage", _json(body),
                        _JSON | {"Authorization": f"Bearer {value}"})
        return Delivery(name, "slack", r.to, m.subject, m.body, call,
                        receipt=lambda st, h, b: _field(b, "ts"))
    call = HttpCall(value, _json({"text": text}), dict(_JSON))
    return Delivery(name, "slack", "incoming webhook", m.subject, m.body, call,
                    receipt=lambda st, h, b: b.decode("utf-8", "replace").strip()[:40] or "ok")


def adaptive_card(m: Message) -> dict[str, Any]:
    """The Teams message: one Adaptive Card with the text, the facts and the anchor."""
    facts = [{"title": "Incident", "value": m.incident},
             {"title": "Severity", "value": m.severity}]
    if m.escalation:
        facts.append({"title": "Escalation", "value": m.escalation})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": m.subject, "weight": "Bolder", "size": "Medium",
             "wrap": True},
            {"type": "TextBlock", "text": m.text.strip(), "wrap": True},
            {"type": "FactSet", "facts": facts},
            {"type": "TextBlock", "text": m.anchor or "(no checkpoint yet)",
             "fontType": "Monospace", "size": "Small", "wrap": True},
        ],
    }
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
         "content": card}]}


def _teams(name: str, r: Recipient, m: Message, s: NotifySettings, secret: str | None,
           thread: str | None, attach: bytes | None, page: str) -> Delivery:
    url = _need(secret, name, "the Teams workflow (Power Automate) webhook URL")
    call = HttpCall(url, _json(adaptive_card(m)), dict(_JSON))
    return Delivery(name, "teams", "workflow webhook", m.subject, m.body, call,
                    receipt=lambda st, h, b: h.get("x-ms-workflow-run-id", "") or "accepted")


def _pagerduty(name: str, r: Recipient, m: Message, s: NotifySettings, secret: str | None,
               thread: str | None, attach: bytes | None, page: str) -> Delivery:
    key = _need(secret, name, "the PagerDuty integration's routing key")
    event: dict[str, Any] = {"routing_key": key, "event_action": page, "dedup_key": m.incident}
    if page == "trigger":
        event["payload"] = {
            "summary": m.subject[:1024], "source": "rescind",
            "severity": PD_SEVERITY.get(m.severity, "warning"),
            "custom_details": {"incident": m.incident, "message": m.text.strip(),
                               "anchor": m.anchor},
        }
        event["client"] = "rescind"
    call = HttpCall(s.pagerduty.events_url, _json(event), dict(_JSON))
    return Delivery(name, "pagerduty", f"Events API v2 ({page})", m.subject, m.body, call,
                    receipt=lambda st, h, b: _field(b, "dedup_key") or m.incident)


def _email(name: str, r: Recipient, m: Message, s: NotifySettings, secret: str | None,
           thread: str | None, attach: bytes | None, page: str) -> Delivery:
    e = s.email
    if not e.host or not r.to:
        raise ActionError(f"recipient {name!r}: email needs [notify.email] host and the "
                          "recipient's `to` address", kind="config", retryable=False,
                          fix="set [notify.email] host (and port, security, sender)")
    mail = EmailMessage()
    mail["From"] = e.sender
    mail["To"] = r.to
    mail["Subject"] = m.subject
    mail["Date"] = formatdate(localtime=False)
    domain = e.sender.rpartition("@")[2] or "rescind.invalid"
    mail["Message-ID"] = make_msgid(idstring=m.incident, domain=domain)
    mail["X-Rescind-Incident"] = m.incident
    mail.set_content(m.body)
    mail.add_alternative(m.html, subtype="html")
    port = e.port or (465 if e.security == "tls" else 587)
    call = MailCall(mail, e.host, port, e.security, e.username, secret, e.ca_file)
    return Delivery(name, "email", r.to, m.subject, m.body, call,
                    receipt=lambda st, h, b: str(mail["Message-ID"]))


def _jira(name: str, r: Recipient, m: Message, s: NotifySettings, secret: str | None,
          thread: str | None, attach: bytes | None, page: str) -> Delivery:
    j = s.jira
    if not j.url or not j.user or not r.to:
        raise ActionError(f"recipient {name!r}: Jira needs [notify.jira] url and user, and "
                          "the recipient's `to` (a project key, or an issue key to comment on)",
                          kind="config", retryable=False,
                          fix="set [notify.jira] url, user and token_secret")
    token = _need(secret, name, "a Jira API token ([notify.jira] token_secret)")
    import base64

    auth = base64.b64encode(f"{j.user}:{token}".encode()).decode()
    headers = _JSON | {"Authorization": f"Basic {auth}", "Accept": "application/json"}
    base = f"{j.url.rstrip('/')}/rest/api/2"
    issue = thread or (r.to if JIRA_ISSUE.match(r.to) else None)
    if issue:
        call = HttpCall(f"{base}/issue/{issue}/comment",
                        _json({"body": f"{m.subject}\n\n{m.body}"}), headers)

        def receipt(st: int, h: Headers, b: bytes) -> str:
            return issue or ""
        target = issue
    else:
        fields = {"project": {"key": r.to}, "summary": m.subject[:250], "description": m.body,
                  "issuetype": {"name": j.issue_type},
                  "labels": ["rescind", f"severity-{m.severity}"]}
        call = HttpCall(f"{base}/issue", _json({"fields": fields}), headers)

        def receipt(st: int, h: Headers, b: bytes) -> str:
            return _field(b, "key")
        target = f"new ticket in {r.to}"

    def attachment(key: str) -> list[HttpCall]:
        if attach is None or not key:
            return []
        boundary = "rescind-" + hashlib.sha256(attach).hexdigest()[:24]
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"report.md\"\r\nContent-Type: text/markdown\r\n\r\n").encode() + \
            attach + f"\r\n--{boundary}--\r\n".encode()
        return [HttpCall(f"{base}/issue/{key}/attachments", body,
                         {"Authorization": f"Basic {auth}", "X-Atlassian-Token": "no-check",
                          "Content-Type": f"multipart/form-data; boundary={boundary}",
                          "Accept": "application/json"})]

    return Delivery(name, "jira", target, m.subject, m.body, call, receipt=receipt,
                    then=attachment)


def signature(key: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` HMAC-SHA256 over ``<timestamp>.<body>``: a replayed body with a new
    timestamp fails, and so does an old one the receiver finds too old."""
    mac = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _webhook(name: str, r: Recipient, m: Message, s: NotifySettings, secret: str | None,
             thread: str | None, attach: bytes | None, page: str) -> Delivery:
    key = _need(secret, name, "the HMAC key the receiver checks")
    if not r.to.startswith(("https://", "http://")):
        raise ActionError(f"recipient {name!r}: a webhook needs `to`, its URL", kind="config",
                          retryable=False, fix=f"add to = \"https://...\" to "
                                               f"[notify.recipients.{name}]")
    stamp = str(int(time.time()))
    body = _json({"incident": m.incident, "severity": m.severity, "subject": m.subject,
                  "text": m.text.strip(), "anchor": m.anchor, "recipient": name,
                  "timestamp": int(stamp)})
    headers = _JSON | {s.webhook.timestamp_header: stamp,
                       s.webhook.signature_header: signature(key, stamp, body)}
    call = HttpCall(r.to, body, headers)
    return Delivery(name, "webhook", r.to.split("?")[0], m.subject, m.body, call,
                    receipt=lambda st, h, b: h.get("x-request-id", "") or f"HTTP {st}")


_BUILDERS = {"slack": _slack, "teams": _teams, "pagerduty": _pagerduty, "email": _email,
             "jira": _jira, "webhook": _webhook}
