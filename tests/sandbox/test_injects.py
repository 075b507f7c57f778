"""Exercise injects against the simulated AWS account: fired by the clock, a step or the
facilitator, made real in moto and CloudTrail, journaled, and kept across a crash.

Every assertion on the cloud reads the state back from moto or the fake CloudTrail
through boto3, as the responder's own client would.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rescind.engine.responder import EventKind, StepState, StepStatus
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.errors import UsageError
from rescind.modes import Mode
from rescind.record.journal import read_entries
from rescind.sandbox.scenario import Scenario
from tests.aws.conftest import LEAKED, LEAKED_KEY
from tests.aws.test_runbooks import AutoResponder

BACKDOOR = "AKIABACKDOOR2EXAMPLE"


@pytest.fixture(autouse=True)
def identity(_isolated_config: Path) -> None:
    from rescind.record.keys import init_key

    init_key("Jane Responder", "jane@example.com")


class HeldResponder(AutoResponder):
    """Answers like AutoResponder, but holds at the manual step `hold` until released."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def acknowledge(self, step: StepState) -> str | None:
        if step.id == "hold":
            self.holding.set()
            await self.release.wait()
        return "done"


def _runbook(tmp_path: Path, scenario: Path | None, first: str = "deactivate") -> Path:
    path = tmp_path / "exercise.yaml"
    path.write_text(f"""\
id: exercise-test
title: Deactivate, then wait for the facilitator
{f"scenario: {scenario}" if scenario else ""}
inputs:
  access_key_id: {{type: string}}
phases:
  contain:
    - id: owner
      action: aws.iam.describe_principal
      with: {{access_key_id: "${{{{ inputs.access_key_id }}}}"}}
    - id: {first}
      action: aws.iam.deactivate_access_key
      with: {{access_key_id: "${{{{ inputs.access_key_id }}}}"}}
    - id: hold
      manual: Wait for the facilitator
    - id: wrap-up
      note: The facilitator may hold this one
""")
    return path


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)  # polling a condition, bounded by the caller's wait_for


def _client(session: IncidentSession, service: str) -> Any:
    import boto3

    s = session.settings["aws"]
    endpoint = s["cloudtrail_endpoint_url"] if service == "cloudtrail" else s["endpoint_url"]
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint,
                        aws_access_key_id=s["access_key_id"],
                        aws_secret_access_key=s["secret_access_key"])


async def _start(tmp_path: Path, runbook: Path, responder: AutoResponder,
                 scenario: Path | None = None) -> tuple[IncidentSession, asyncio.Task[str]]:
    config = SessionConfig(runbook=runbook, mode=Mode.EXERCISE, scenario=scenario,
                           inputs={"access_key_id": LEAKED_KEY}, out_dir=tmp_path / "incidents")
    session = await IncidentSession.start(config, responder)
    return session, asyncio.create_task(session.run())


def _kinds(session: IncidentSession, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in read_entries(session.incident_dir / "journal.jsonl")
            if e.kind == kind]


def _keys(session: IncidentSession, user: str) -> dict[str, str]:
    listed = _client(session, "iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in listed}


def _trail_names(session: IncidentSession) -> list[tuple[str, str]]:
    events = _client(session, "cloudtrail").lookup_events(MaxResults=50)["Events"]
    return [(e["EventName"], e.get("Username", "")) for e in events]


async def test_resume_keeps_the_inject_key_and_the_deactivation(tmp_path: Path) -> None:
    responder = HeldResponder()
    # Started with --scenario: resume must play the same one (the runbook names none).
    session, run = await _start(tmp_path, _runbook(tmp_path, None), responder, LEAKED)
    incident = session.incident_dir
    try:
        await asyncio.wait_for(responder.holding.wait(), 60)
        assert session.exercise is not None
        await session.exercise.fire_now("backdoor-key")
        assert _keys(session, "backup-admin")[BACKDOOR] == "Active"
        # Killed after an inject fired in the cloud, before the journal had it.
        alert = session.exercise.injects["soc-alert"]
        session.exercise._home["soc-alert"].exercise().fire(alert, datetime.now(UTC))
    finally:  # a crash: no close, no seal; the sandbox stops with the process's session
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        session.shutdown()

    second = HeldResponder()
    resumed = await IncidentSession.resume(incident, second)
    try:
        assert resumed.exercise is not None
        assert resumed.exercise.fired == ["backdoor-key", "soc-alert"]
        # Read back from the resumed simulated account, not from what rescind claims.
        assert _keys(resumed, "deploy-bot")[LEAKED_KEY] == "Inactive"
        assert _keys(resumed, "backup-admin")[BACKDOOR] == "Active"
        assert ("CreateAccessKey", "backup-admin") in _trail_names(resumed)
        # Already fired: not again, and the facilitator is told so.
        with pytest.raises(UsageError, match="already fired"):
            await resumed.exercise.fire_now("backdoor-key")
    finally:
        resumed.shutdown()
    fired = _kinds(resumed, "exercise.inject")
    assert [(f["id"], f["trigger"], BACKDOOR in f["targets"]) for f in fired] == [
        ("backdoor-key", "facilitator", True), ("soc-alert", "clock", False)]


async def test_clock_pause_deny_and_notes_are_journaled(tmp_path: Path) -> None:
    responder = HeldResponder()
    session, run = await _start(tmp_path, _runbook(tmp_path, LEAKED), responder)
    try:
        await asyncio.wait_for(responder.holding.wait(), 60)
        exercise = session.exercise
        assert exercise is not None
        assert (await exercise.command("pause")).startswith("Paused")
        assert await exercise.tick() == []  # the clock stopped: nothing fires
        responder.release.set()  # the team finishes its step: the next one is held
        await asyncio.wait_for(_until(lambda: exercise.holding), 60)
        said = await exercise.command("advance +11m")
        assert "soc-alert" in said and "backdoor-key" in said
        # An advance fires what is due but keeps the pause and the held step.
        assert exercise.paused and exercise.holding
        assert session._state("wrap-up").status is StepStatus.PENDING
        await exercise.command("resume")
        assert await asyncio.wait_for(run, 60) == "completed"
        await exercise.command("note the team missed the second key")
        await exercise.command("fire no-console-delete")
        with pytest.raises(ClientError, match="AccessDenied"):
            _client(session, "iam").delete_login_profile(UserName="backup-admin")
        _client(session, "iam").get_login_profile(UserName="backup-admin")  # still there
        assert ("DeleteLoginProfile", "responder") in _trail_names(session)
        with pytest.raises(UsageError, match="not a facilitator command"):
            await exercise.command("explode")
    finally:
        responder.release.set()
        await asyncio.wait_for(run, 60)
        session.shutdown()
    assert _kinds(session, "exercise.pause") == [{"by": "facilitator"}]
    assert _kinds(session, "exercise.resume") == [{"by": "facilitator"}]
    assert _kinds(session, "exercise.clock") == [{"advanced_s": 660}]
    assert {"text": "the team missed the second key", "by": "facilitator"} in \
        _kinds(session, "note")
    fired = {f["id"]: f for f in _kinds(session, "exercise.inject")}
    assert [f["trigger"] for f in fired.values()] == ["clock", "clock", "facilitator"]
    assert fired["backdoor-key"]["targets"] == [BACKDOOR, "backup-admin"]
    assert fired["no-console-delete"]["targets"] == []  # an operation is no credential
    assert any("GuardDuty" in w["message"] for w in responder.of_kind(EventKind.WARNING))


async def test_an_unreachable_approver_times_the_next_approval_out(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(LEAKED.read_text(encoding="utf-8") + """\
  - id: approver-away
    summary: the approver is on a flight
    after_step: owner
    approver_unreachable: true
""")
    responder = HeldResponder()
    session, run = await _start(tmp_path, _runbook(tmp_path, scenario), responder)
    try:
        await asyncio.wait_for(responder.holding.wait(), 60)
        # The deactivation's approval timed out; the responder skipped the step.
        assert _keys(session, "deploy-bot")[LEAKED_KEY] == "Active"
    finally:
        responder.release.set()
        await asyncio.wait_for(run, 60)
        session.shutdown()
    refused = [a for a in _kinds(session, "action.approval") if a.get("timed_out")]
    assert [(a["step"], a["inject"]) for a in refused] == [("deactivate", "approver-away")]
    assert [(s, e.kind) for s, e in responder.failures] == [("deactivate", "error")]


async def test_an_inject_after_a_missing_step_is_refused_before_the_incident(
        tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(LEAKED.read_text(encoding="utf-8") + """\
  - id: late
    summary: never
    after_step: no-such-step
    alert: {text: hello}
""")
    with pytest.raises(UsageError, match="after_step 'no-such-step' is not a step"):
        await _start(tmp_path, _runbook(tmp_path, scenario), AutoResponder())
    assert not (tmp_path / "incidents").exists() or not any((tmp_path / "incidents").iterdir())


@pytest.mark.parametrize(("inject", "where", "message"), [
    ("{id: x, summary: s, at: 5m, alert: {text: t}}", "injects.0.at", r"write \+5m"),
    ("{id: x, summary: s}", "injects.0", "an inject does something"),
    ("{id: x, summary: s, deny: [delete key]}", "injects.0.deny", "not an API operation"),
    ("{id: X!, summary: s, alert: {text: t}}", "injects.0.id", "lower-case"),
])
def test_bad_injects_name_the_file_and_line(tmp_path: Path, inject: str, where: str,
                                            message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\nusers: []\ninjects:\n  - {inject}\n")
    with pytest.raises(UsageError, match=rf"bad.yaml:4: {where}: .*{message}"):
        Scenario.load(path)


def test_shipped_scenarios_have_injects() -> None:
    scenarios = LEAKED.parent
    found = {name: [i.id for i in Scenario.load(scenarios / f"{name}.yaml").injects]
             for name in ("leaked-access-key", "third-party-role", "root-credential-use")}
    assert "backdoor-key" in found["leaked-access-key"]
    assert "approver-away" in found["third-party-role"]
    assert "root-console-password" in found["root-credential-use"]


def test_the_saved_state_holds_no_secret(tmp_path: Path) -> None:
    """A new console password and a rotated external id stay out of the state log."""
    import io
    from urllib.parse import urlencode

    from rescind.sandbox.moto_requests import RequestLog

    log = RequestLog(tmp_path / "aws.jsonl")
    trust = ('{"Statement":[{"Effect":"Allow","Condition":{"StringEquals":'
             '{"sts:ExternalId":"new-external-id-4711"}}}]}')
    for form in ({"Action": "CreateLoginProfile", "UserName": "backup-admin",
                  "Password": "Pw-shown-once-4711"},
                 {"Action": "UpdateAssumeRolePolicy", "RoleName": "vendor",
                  "PolicyDocument": trust}):
        body = urlencode(form).encode()
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_LENGTH": str(len(body)),
                   "wsgi.input": io.BytesIO(body),
                   "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKIARESPONDR9EXAMPLE/"
                                         "20261202/us-east-1/iam/aws4_request, "
                                         "SignedHeaders=host, Signature=abcdef0123"}
        log.request(environ, body, form["Action"], b"<ok/>")
    text = (tmp_path / "aws.jsonl").read_text()
    assert "4711" not in text and "abcdef0123" not in text
    assert [line["operation"] for line in log.lines()] == ["CreateLoginProfile",
                                                           "UpdateAssumeRolePolicy"]


@pytest.mark.parametrize(("scenario", "inject", "expect"), [
    ("root-credential-use", "root-console-password", "CreateLoginProfile"),
    ("third-party-role", "new-session", "AssumeRole"),
])
def test_shipped_attacker_injects_reach_the_account_and_its_trail(
        scenario: str, inject: str, expect: str) -> None:

    from rescind.sandbox.aws import start_aws_sandbox

    with start_aws_sandbox(LEAKED.parent / f"{scenario}.yaml") as sandbox:
        spec = next(i for i in sandbox.injects if i.id == inject)
        at = datetime.now(UTC)
        targets = sandbox.exercise().fire(spec, at)
        found = {e["EventName"]: e for e in sandbox.client("cloudtrail").lookup_events(
            StartTime=at.replace(microsecond=0), MaxResults=50)["Events"]}
        assert expect in found, sorted(found)
        if inject == "root-console-password":  # applied to moto, not only written down
            sandbox.client("iam").get_login_profile(UserName="support-admin")
            assert targets == ["support-admin"]
        if inject == "new-session":  # a session of the role: revoking its sessions ends it
            assert targets.holders == {"ASIAEXAMPLEVENDOR003": "arn:aws:iam::123456789012:"
                                                               "role/costexport-connector-role"}


def test_an_attacker_inject_fails_against_containment() -> None:
    """The backdoor key is not created when the team already deactivated the key it uses;
    the failed attempt is in CloudTrail, as AWS would log it."""

    from rescind.sandbox.aws import start_aws_sandbox

    with start_aws_sandbox(LEAKED) as sandbox:
        iam = sandbox.client("iam")
        iam.update_access_key(UserName="backup-admin", AccessKeyId="AKIABACKUPAD1EXAMPLE",
                              Status="Inactive")
        spec = next(i for i in sandbox.injects if i.id == "backdoor-key")
        at = datetime.now(UTC)
        sandbox.exercise().fire(spec, at)
        reader = next(i for i in sandbox.injects if i.id == "secret-read")
        assert sandbox.exercise().fire(reader, at) == ["prod/db-password"]
        keys = iam.list_access_keys(UserName="backup-admin")["AccessKeyMetadata"]
        assert [k["AccessKeyId"] for k in keys] == ["AKIABACKUPAD1EXAMPLE"]
        import json

        events = sandbox.client("cloudtrail").lookup_events(
            StartTime=at.replace(microsecond=0), MaxResults=50)["Events"]
        tried = [json.loads(e["CloudTrailEvent"]) for e in events
                 if e["EventName"] == "CreateAccessKey"]
        assert [t.get("errorCode") for t in tried] == ["InvalidClientTokenId"]
        # A key that was never created reads nothing either: the secret read fails too.
        read = [json.loads(e["CloudTrailEvent"]) for e in events
                if e["EventName"] == "GetSecretValue"]
        assert [r.get("errorCode") for r in read] == ["InvalidClientTokenId"]
