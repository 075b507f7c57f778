"""notify.send in live and dry-run mode against real protocol peers on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

from rescind.engine.session import IncidentSession, SessionConfig
from rescind.modes import Mode
from rescind.record.journal import read_entries
from tests.aws.test_runbooks import AutoResponder
from tests.notify.conftest import CANARY, DRILL, Peers, secret_value


async def _run(tmp_path: Path, mode: Mode, settings: dict[str, Any],
               inputs: dict[str, str] | None = None) -> tuple[IncidentSession, AutoResponder]:
    responder = AutoResponder()
    config = SessionConfig(runbook=DRILL, mode=mode, inputs=inputs or {},
                           out_dir=tmp_path / "incidents", settings=settings)
    session = await IncidentSession.start(config, responder)
    assert await session.run() == "completed"
    return session, responder


def _entries(session: IncidentSession, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in read_entries(session.journal.path) if e.kind == kind]


def _no_canary_in_files(folder: Path, url: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for name in CANARY:
                assert secret_value(name, url).encode() not in data, (name, path)
                assert CANARY[name].encode() not in data, (name, path)


async def test_live_delivers_exact_requests_with_receipts(tmp_path: Path, peers: Peers) -> None:
    http = peers.http
    # The Slack incoming webhook is throttled, then down, then takes the message.
    hook_path = CANARY["slack-hook"]
    http.answer(hook_path, (429, {"Retry-After": "0"}, b"rate_limited"),
                (503, {}, b"down"), (200, {}, b"ok"))
    session, responder = await _run(tmp_path, Mode.LIVE, peers.settings())
    try:
        incident = session.incident_id
        assert responder.failures == []
        anchors = {a.line for a in session.anchors}

        def anchor_in(text: str) -> str:
            found = re.search(r"ANCHOR \S+ seq=\d+ sha256=[0-9a-f]{64} key=SHA256:\S{43}", text)
            assert found is not None and found.group(0) in anchors, text
            return found.group(0)

        # Slack Web API: a thread per incident, the bot token only in the header.
        slack = http.to("/api/chat.postMessage")
        assert len(slack) == 2
        first, second = (r.json() for r in slack)
        assert slack[0].headers["authorization"] == f"Bearer {CANARY['slack-bot']}"
        assert slack[0].headers["content-type"] == "application/json; charset=utf-8"
        assert first["channel"] == "#security" and "thread_ts" not in first
        assert second["thread_ts"] == "1700000000.000100"
        assert incident in first["text"] and anchor_in(first["text"])
        assert "Key AKIAIOSFODNN7EXAMPLE of deploy-bot leaked" in first["text"]

        # Slack incoming webhook: retried on 429 and 503 with the same exact body.
        hooks = http.to(hook_path)
        assert len(hooks) == 2 * 1 + 1 + 1  # 429, 503, 200 for the first send; 1 for the page
        assert hooks[0].body == hooks[1].body == hooks[2].body
        assert set(hooks[0].json()) == {"text"}

        # Teams: one Adaptive Card with the incident facts and the anchor.
        teams = http.to(CANARY["teams-url"])[0].json()
        card = teams["attachments"][0]
        assert teams["type"] == "message"
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        blocks = card["content"]["body"]
        assert card["content"]["type"] == "AdaptiveCard"
        assert {"title": "Incident", "value": incident} in blocks[2]["facts"]
        assert blocks[3]["text"].startswith(f"ANCHOR {incident} seq=")

        # PagerDuty: only after the severity went to critical; dedup key = incident id.
        pages = http.to("/v2/enqueue")
        assert len(pages) == 1
        page = pages[0].json()
        assert page["routing_key"] == CANARY["pd-key"] and page["event_action"] == "trigger"
        assert page["dedup_key"] == incident
        assert page["payload"]["severity"] == "critical"
        assert page["payload"]["source"] == "rescind"

        # Jira: a ticket, a comment for the page, a comment and report.md at the close.
        created = http.to("/jira/rest/api/2/issue")[0]
        fields = created.json()["fields"]
        assert fields["project"] == {"key": "IR"} and fields["issuetype"] == {"name": "Task"}
        auth = created.headers["authorization"].split()[1]
        import base64

        assert base64.b64decode(auth).decode() == f"rescind@example.com:{CANARY['jira-token']}"
        # page and close_ticket, and the automatic comment at the end of each phase.
        assert len(http.to("/jira/rest/api/2/issue/IR-7/comment")) == 2 + 2
        attachment = http.to("/jira/rest/api/2/issue/IR-7/attachments")[0]
        assert attachment.headers["x-atlassian-token"] == "no-check"
        assert b'filename="report.md"' in attachment.body and incident.encode() in \
            attachment.body

        # The generic webhook: HMAC-SHA256 over "<timestamp>.<body>".
        hook = http.to("/hook")[0]
        stamp = hook.headers["x-rescind-timestamp"]
        expected = hmac.new(CANARY["hook-key"].encode(), stamp.encode() + b"." + hook.body,
                            hashlib.sha256).hexdigest()
        assert hook.headers["x-rescind-signature"] == f"sha256={expected}"
        assert hook.json()["incident"] == incident and hook.json()["timestamp"] == int(stamp)

        # Email over STARTTLS with a login: plain text and a short HTML part.
        mails = peers.smtp.received
        assert [m[0].rcpt_tos for m in mails] == [["security@example.com"],
                                                   ["owner@example.com"],
                                                   ["security@example.com"]]
        assert all(tls for _, _, tls in mails)
        assert peers.smtp.logins[0] == ("rescind@example.com", CANARY["smtp-pass"])
        owner_mail = mails[1][1]
        assert owner_mail["X-Rescind-Incident"] == incident
        plain = owner_mail.get_body(("plain",)).get_content()
        html = owner_mail.get_body(("html",)).get_content()
        assert "Escalation: https://example.pagerduty.com/escalation_policies#P1" in plain
        assert anchor_in(plain) in html

        # Receipts are outputs and journaled, one notify.message per delivery.
        done = {d["step"]: d["outputs"] for d in _entries(session, "step.done")}
        receipts = done["tell_security"]["receipts"]
        assert receipts["sec-slack"] == "1700000000.000100"
        assert receipts["sec-teams"] == "run-1"
        assert receipts["ir-jira"] == "IR-7"
        assert receipts["siem"] == "req-1"
        assert receipts["owner-123456789012"].startswith("<")
        assert done["page"]["receipts"]["sec-pager"] == incident
        sent = _entries(session, "notify.message")
        assert all(m["status"] == "sent" for m in sent)
        hook_sent = next(m for m in sent if m["recipient"] == "sec-hook")
        assert hook_sent["attempts"] == 3
        raised = _entries(session, "incident.severity")
        assert raised == [{"step": "raise", "severity": "critical", "previous": "high",
                           "reason": "persistence found"}]
        assert len(session.messages()) == len(sent)
        await session.close()
    finally:
        session.shutdown()

    _no_canary_in_files(session.incident_dir, http.url)
    # No message text carries a secret; only the protocol fields that must do.
    for request in http.requests:
        body = json.loads(request.body) if request.body[:1] == b"{" else None
        if isinstance(body, dict):
            body.pop("routing_key", None)
        text = json.dumps(body) if body is not None else request.body.decode("utf-8", "replace")
        for name in CANARY:
            assert CANARY[name] not in text, (name, request.path)
    for _, message, _ in peers.smtp.received:
        assert not any(CANARY[n] in message.as_string() for n in CANARY)


async def test_dry_run_sends_nothing_and_journals_would_send(tmp_path: Path,
                                                              peers: Peers) -> None:
    session, responder = await _run(tmp_path, Mode.DRY_RUN, peers.settings())
    try:
        assert peers.http.requests == []  # as the server saw it
        assert peers.smtp.received == []
        blocked = _entries(session, "dryrun.blocked")
        # security+owner, page, ticket, and the ticket's comment at each phase's end.
        assert len(blocked) == 6 + 1 + 6 + 1 + 1 + 2
        assert all(b["text"].startswith("would send ") for b in blocked)
        assert any(b["text"].startswith("would send slack message to #security (sec-slack)")
                   for b in blocked)
        assert {m["status"] for m in _entries(session, "notify.message")} == {"would-send"}
        assert responder.failures == []
    finally:
        session.shutdown()
    _no_canary_in_files(session.incident_dir, peers.http.url)


async def test_a_secret_in_a_message_is_refused_at_plan_time(tmp_path: Path,
                                                              peers: Peers) -> None:
    secret = "canary-input-8888"
    session, responder = await _run(tmp_path, Mode.LIVE, peers.settings(),
                                    {"token": secret, "leak": "yes"})
    try:
        refused = [(step, e) for step, e in responder.failures if step == "leak_token"]
        assert refused and refused[0][1].kind == "refused"
        assert not any(p.step_id == "leak_token" for p in responder.plans)
        assert all(secret.encode() not in r.body for r in peers.http.requests)
    finally:
        session.shutdown()
    for path in session.incident_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
