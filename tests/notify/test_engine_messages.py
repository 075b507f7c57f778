"""Messages the engine sends without a step, read back from the loopback peers:
two-person approval requests, Jira comments at each phase end, the sealed report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rescind.actions import registry
from rescind.engine.responder import Approval, ApprovalRequest, ApprovalResponse
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.modes import Mode
from rescind.notify.settings import NotifySettings
from rescind.providers.notify import NotifyProvider
from rescind.record.journal import read_entries
from tests.aws.test_runbooks import AutoResponder
from tests.engine.testcloud import ALL_ACTIONS, FakeCloud
from tests.notify.conftest import CANARY, DRILL, Peers

CRITICAL = """\
id: nuke-incident
title: Nuke incident
phases:
  remediate:
    - id: nuke
      action: test.nuke_user
      with: {user: alice}
"""


@pytest.fixture(autouse=True)
def test_actions() -> Iterator[None]:
    for cls in ALL_ACTIONS:
        registry.register(cls)
    yield
    for cls in ALL_ACTIONS:
        registry.unregister(cls.name)


def _entries(session: IncidentSession, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in read_entries(session.journal.path) if e.kind == kind]


class SecondPerson(AutoResponder):
    """Approves a two-person plan with a second, trusted key."""

    def __init__(self, signer: Any) -> None:
        super().__init__()
        self.signer = signer
        self.asked_after: list[int] = []  # requests the peer held when approval was asked

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        from rescind.record.approval import sign_approval

        self.plans.append(request.plan)
        if request.policy is not Approval.TWO_PERSON:
            return ApprovalResponse(approved=True)
        return ApprovalResponse(approved=True, token=sign_approval(
            request.plan_file.read_bytes(), self.signer))


async def _start(tmp_path: Path, mode: Mode, peers: Peers, responder: Any,
                 settings: dict[str, Any]) -> tuple[IncidentSession, FakeCloud]:
    runbook = tmp_path / "nuke.yaml"
    runbook.write_text(CRITICAL)
    cloud = FakeCloud(tmp_path / "cloud.json")
    notify = NotifyProvider.from_settings(NotifySettings.model_validate(settings["notify"]),
                                          mode)
    config = SessionConfig(runbook=runbook, mode=mode, out_dir=tmp_path / "incidents",
                           providers={"testcloud": cloud, "notify": notify},
                           settings={k: v for k, v in settings.items() if k != "notify"})
    return await IncidentSession.start(config, responder), cloud


def _approval_settings(peers: Peers, tmp_path: Path, second: Any) -> dict[str, Any]:
    team = tmp_path / "approvers"
    team.write_text(second.allowed_signers_line() + "\n")
    settings = peers.settings()
    settings["notify"]["approval_requests"] = ["sec-slack", "siem"]
    return settings | {"approvers": str(team)}


async def test_two_person_plan_posts_summary_hash_and_command(tmp_path: Path,
                                                             peers: Peers) -> None:
    from rescind.record.keys import ephemeral_signer

    second = ephemeral_signer("Sam Second", "sam@example.com")
    responder = SecondPerson(second)
    settings = _approval_settings(peers, tmp_path, second)
    session, cloud = await _start(tmp_path, Mode.LIVE, peers, responder, settings)
    try:
        assert await session.run() == "completed"
    finally:
        session.shutdown()
    assert "alice" not in cloud.load()["users"]
    plan = _entries(session, "action.plan")[0]
    plan_file = session.incident_dir / "plans" / f"nuke.{plan['plan_hash'][:12]}.json"
    # What Slack received: one message to #security with the plan's summary, its hash
    # and the exact command, and the incident's anchor.
    slack = [r.json() for r in peers.http.to("/api/chat.postMessage")]
    assert len(slack) == 1 and slack[0]["channel"] == "#security"
    text = slack[0]["text"]
    assert "Approval needed: nuke" in text
    assert plan["plan"]["summary"] in text
    assert f"Plan hash: {plan['plan_hash']}" in text
    assert f"rescind approve {plan_file}" in text
    assert f"ANCHOR {session.incident_id} seq=" in text
    # The HMAC-signed webhook got the same request.
    hook = peers.http.to("/hook")[0].json()
    assert plan["plan_hash"] in hook["text"] and hook["recipient"] == "siem"
    # Journaled with receipts, before the approval was recorded.
    requests = [m for m in _entries(session, "notify.message")
                if m.get("purpose") == "approval-request"]
    assert {m["recipient"]: m["receipt"] for m in requests} == {
        "sec-slack": "1700000000.000100", "siem": "req-1"}
    assert all(m["plan_hash"] == plan["plan_hash"] and m["status"] == "sent" for m in requests)
    kinds = [e.kind for e in read_entries(session.journal.path)]
    assert kinds.index("notify.message") < kinds.index("action.approval")
    assert [m["recipient"] for m in session.messages()] == ["sec-slack", "siem"]
    for path in session.incident_dir.rglob("*"):
        if path.is_file():
            assert CANARY["slack-bot"].encode() not in path.read_bytes()


async def test_dry_run_blocks_the_approval_request_and_journals_would_send(
        tmp_path: Path, peers: Peers) -> None:
    from rescind.record.keys import ephemeral_signer

    second = ephemeral_signer("Sam Second", "sam@example.com")
    settings = _approval_settings(peers, tmp_path, second)
    session, cloud = await _start(tmp_path, Mode.DRY_RUN, peers, AutoResponder(), settings)
    try:
        assert await session.run() == "completed"
    finally:
        session.shutdown()
    assert peers.http.requests == []  # nothing reached the peer
    assert "alice" in cloud.load()["users"]
    blocked = [b["text"] for b in _entries(session, "dryrun.blocked")
               if b["provider"] == "notify"]
    assert blocked == ["would send slack message to #security (sec-slack): Approval needed: "
                       f"nuke ({session.incident_id})",
                       "would send webhook message to "
                       f"{peers.http.url}/hook (siem): Approval needed: nuke "
                       f"({session.incident_id})"]
    assert {m["status"] for m in session.messages()} == {"would-send"}


async def test_a_failed_approval_request_is_journaled_and_the_step_still_runs(
        tmp_path: Path, peers: Peers) -> None:
    from rescind.record.keys import ephemeral_signer

    second = ephemeral_signer("Sam Second", "sam@example.com")
    peers.http.answer("/api/chat.postMessage", (403, {}, b'{"ok":false,"error":"no"}'))
    settings = _approval_settings(peers, tmp_path, second)
    responder = SecondPerson(second)
    session, cloud = await _start(tmp_path, Mode.LIVE, peers, responder, settings)
    try:
        assert await session.run() == "completed"
    finally:
        session.shutdown()
    assert "alice" not in cloud.load()["users"]
    failed = [m for m in session.messages() if m["status"] == "failed"]
    assert [m["recipient"] for m in failed] == ["sec-slack"]
    assert "HTTP 403" in failed[0]["error"] and failed[0]["fix"]
    assert len(peers.http.to("/hook")) == 1  # the other recipient still got it


def _jira_only(peers: Peers) -> dict[str, Any]:
    settings = peers.settings()
    settings["notify"]["recipients"] = {"ir-jira": settings["notify"]["recipients"]["ir-jira"]}
    settings["notify"]["routes"] = {"security": {"low": ["ir-jira"]},
                                    "ticket": {"low": ["ir-jira"]}}
    return settings


async def test_jira_ticket_gets_a_comment_per_phase_and_the_sealed_report(
        tmp_path: Path, peers: Peers) -> None:
    config = SessionConfig(runbook=DRILL, mode=Mode.LIVE, out_dir=tmp_path / "incidents",
                           settings=_jira_only(peers))
    session = await IncidentSession.start(config, AutoResponder())
    try:
        assert await session.run() == "completed"
        info = await session.close()
    finally:
        session.shutdown()
    http = peers.http
    assert len(http.to("/jira/rest/api/2/issue")) == 1  # the ticket tell_security created
    comments = [r.json()["body"] for r in http.to("/jira/rest/api/2/issue/IR-7/comment")]
    # page, end of notify, close_ticket, end of document, closed: in that order.
    phase_ends = [c for c in comments if " ended: " in c]
    assert [c.split("\n")[0] for c in phase_ends] == [
        f"{session.incident_id}: phase notify ended",
        f"{session.incident_id}: phase document ended"]
    assert "Phase notify ended: 3 of 4 steps done, 1 skipped." in phase_ends[0]
    assert "- leak_token: skipped" in phase_ends[0]
    # Each comment carries the checkpoint signed at that phase's end.
    ends = [e for e in read_entries(session.journal.path) if e.kind == "checkpoint"
            and e.data.get("reason") == "end of phase notify"]
    assert ends and f"seq={ends[0].seq} sha256={ends[0].sha256}" in phase_ends[0]
    closing = comments[-1]
    assert closing.startswith(f"{session.incident_id}: closed, report.md sealed")
    assert info.verify_command in closing
    # The last attachment is the sealed report.md, byte for byte as SHA256SUMS lists it.
    sealed = info.report.read_bytes()
    attached = http.to("/jira/rest/api/2/issue/IR-7/attachments")
    assert len(attached) == 2  # close_ticket's (as the journal stood), then the sealed one
    assert b"\r\n\r\n" + sealed + b"\r\n--" in attached[-1].body
    import hashlib

    assert f"{hashlib.sha256(sealed).hexdigest()}  report.md" in info.sums.read_text()
    # Journaled before the seal: the phase comments and the pending attachment.
    jira = [m for m in _entries(session, "notify.message")
            if m.get("purpose") in ("phase-comment", "sealed-report")]
    assert [(m.get("phase"), m["status"]) for m in jira] == [
        ("notify", "sent"), ("document", "sent"), (None, "pending")]


async def test_dry_run_phase_comments_and_report_are_would_send(tmp_path: Path,
                                                               peers: Peers) -> None:
    config = SessionConfig(runbook=DRILL, mode=Mode.DRY_RUN, out_dir=tmp_path / "incidents",
                           settings=_jira_only(peers))
    session = await IncidentSession.start(config, AutoResponder())
    try:
        assert await session.run() == "completed"
        await session.close()
    finally:
        session.shutdown()
    assert peers.http.requests == []
    blocked = [b["text"] for b in _entries(session, "dryrun.blocked")]
    incident = session.incident_id
    for subject in (f"{incident}: phase notify ended", f"{incident}: phase document ended",
                    f"{incident}: closed, report.md sealed"):
        assert (f"would send jira message to the incident's ticket (ir-jira): {subject}"
                in blocked)
