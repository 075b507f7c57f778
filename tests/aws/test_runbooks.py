"""The shipped AWS runbooks, each run end to end by the engine against its own scenario.

Exercise mode: the engine starts the simulated account from the runbook's scenario;
the state every step leaves is read back from moto before the sandbox stops. Every
runbook's dry-run, AWS's included, is tests/test_dry_run_runbooks.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from rescind.actions.base import Plan
from rescind.engine.responder import (
    Approval,
    ApprovalRequest,
    ApprovalResponse,
    EngineEvent,
    EventKind,
    FailureChoice,
    StepState,
)
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.record.journal import read_entries
from tests.aws.conftest import LEAKED_KEY, ROOT

RUNBOOKS = ROOT / "runbooks"


class AutoResponder:
    """Approves every plan (typing the first target's name), skips failed steps."""

    def __init__(self) -> None:
        self.plans: list[Plan] = []
        self.failures: list[tuple[str, ActionError]] = []
        self.events: list[EngineEvent] = []

    async def acknowledge(self, step: StepState) -> str | None:
        return "done"

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        return default or "answer"

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        assert request.policy is not Approval.TWO_PERSON, request.plan.summary
        self.plans.append(request.plan)
        typed = request.expected_names[0] if request.policy is Approval.TYPE_NAME else None
        return ApprovalResponse(approved=True, typed=typed)

    async def on_failure(self, step: StepState, error: ActionError) -> FailureChoice:
        self.failures.append((step.id, error))
        return FailureChoice("skip", reason=f"test: {error.kind}")

    def event(self, event: EngineEvent) -> None:
        self.events.append(event)

    def of_kind(self, kind: EventKind) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.kind is kind]


@pytest.fixture(autouse=True)
def identity(_isolated_config: Path) -> None:
    from rescind.record.keys import init_key

    init_key("Jane Responder", "jane@example.com")


def _client(session: IncidentSession, service: str) -> Any:
    import boto3

    s = session.settings["aws"]
    return boto3.client(service, region_name="us-east-1", endpoint_url=s["endpoint_url"],
                        aws_access_key_id=s["access_key_id"],
                        aws_secret_access_key=s["secret_access_key"])


@asynccontextmanager
async def exercise(tmp_path: Path, runbook: str, **inputs: str
                   ) -> AsyncIterator[tuple[IncidentSession, AutoResponder]]:
    responder = AutoResponder()
    config = SessionConfig(runbook=RUNBOOKS / f"{runbook}.yaml", mode=Mode.EXERCISE,
                           inputs=inputs, out_dir=tmp_path / "incidents")
    session = await IncidentSession.start(config, responder)
    try:
        assert await session.run() == "completed"
        yield session, responder
        await session.close()
        report = session.verify()
        assert report.status == "ok" and report.seal_verified, report.problems
    finally:
        session.shutdown()


def _outputs(session: IncidentSession, step: str) -> dict[str, Any]:
    return next(s.outputs for s in session.steps if s.id == step)


def _statuses(session: IncidentSession) -> dict[str, str]:
    return {s.id: str(s.status) for s in session.steps}


def _inline(iam: Any, user: str) -> list[str]:
    return list(iam.list_user_policies(UserName=user)["PolicyNames"])


async def test_access_key_compromise(tmp_path: Path) -> None:
    run = exercise(tmp_path, "aws-access-key-compromise", access_key_id=LEAKED_KEY)
    async with run as (session, responder):
        assert responder.failures == []
        iam = _client(session, "iam")
        keys = iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]
        assert LEAKED_KEY not in [k["AccessKeyId"] for k in keys]
        assert sorted(_inline(iam, "deploy-bot")) == [
            "AWSRevokeOlderSessions", "RescindQuarantine", "read-deploy-secret"]
        assert iam.list_access_keys(UserName="backup-admin")["AccessKeyMetadata"] == []
        assert "RescindQuarantine" in _inline(iam, "backup-admin")
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_login_profile(UserName="backup-admin")
        stages = _client(session, "secretsmanager").describe_secret(
            SecretId="prod/db-password")["VersionIdsToStages"]
        assert sorted(map(tuple, stages.values())) == [("AWSCURRENT",), ("AWSPREVIOUS",)]
        persistence = _outputs(session, "persistence")
        assert persistence["users"] == ["backup-admin"]
        assert persistence["secrets_read"] == ["prod/db-password"]
        assert _statuses(session)["escalate"] == "done"
        kinds = [e.kind for e in read_entries(session.incident_dir / "journal.jsonl")]
        assert kinds.count("action.target") == 2 * 8  # intent and outcome of 8 targets
        assert (session.incident_dir / "timeline.jsonl").is_file()
        # Pulling again asks the simulated CloudTrail once more, for a window up to now
        # starting a little before the first pull ended; nothing it returns is new.
        first = next(e.data["plan"]["state"] for e in read_entries(
            session.incident_dir / "journal.jsonl")
            if e.kind == "action.plan" and e.data["step"] == "timeline")
        again = await session.pull_timeline_again()
        assert again["new_events"] == 0 and "events" in again
        pulled = [e.data for e in read_entries(session.incident_dir / "journal.jsonl")
                  if e.kind == "timeline.pull_again"]
        assert len(pulled) == 1 and pulled[0]["since"] < first["until"] <= pulled[0]["until"]


async def test_role_session_compromise(tmp_path: Path) -> None:
    run = exercise(tmp_path, "aws-role-session-compromise", role="app-deployer")
    async with run as (session, responder):
        assert responder.failures == []
        iam = _client(session, "iam")
        assert "AWSRevokeOlderSessions" in iam.list_role_policies(
            RoleName="app-deployer")["PolicyNames"]
        assert iam.list_access_keys(UserName="svc-metrics")["AccessKeyMetadata"] == []
        assert "RescindQuarantine" in _inline(iam, "svc-metrics")
        assert _outputs(session, "persistence")["secrets_read"] == ["prod/api-token"]
        timeline = _outputs(session, "timeline")
        assert timeline["events"] >= 7  # AssumeRole, then the stolen session's calls
        assert _statuses(session)["remove_backdoor_console"] == "skipped"


async def test_third_party_role_rotation(tmp_path: Path) -> None:
    run = exercise(tmp_path, "aws-third-party-role-rotation", role="costexport-connector-role")
    async with run as (session, responder):
        assert responder.failures == []
        iam = _client(session, "iam")
        role = "costexport-connector-role"
        assert iam.list_role_policies(RoleName=role)["PolicyNames"] == [
            "AWSRevokeOlderSessions"]
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        new_id = trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"]
        secrets = responder.of_kind(EventKind.SECRET)
        assert [(s["step"], s["name"]) for s in secrets] == [
            ("rotate_external_id", "external_id")]
        assert secrets[0]["value"] == new_id != "costexport-example-external-id"
        # The deleted policy document is kept in the record; the new external id is not.
        plan = next(p for p in responder.plans if p.action == "aws.iam.delete_role_policy")
        assert plan.state["targets"]["CostExportAccess"]["before"]["Statement"]
        secret_value = new_id
    written = list((tmp_path / "incidents").rglob("*"))
    assert written
    for path in written:
        if path.is_file():
            assert secret_value.encode() not in path.read_bytes(), path


async def test_root_credential_use(tmp_path: Path) -> None:
    async with exercise(tmp_path, "aws-root-credential-use") as (session, responder):
        assert responder.failures == []
        check = _outputs(session, "root_check")
        assert check["root_access_keys"] is False
        assert check["root_mfa"] is False  # moto cannot give root MFA: the guided step runs
        assert _statuses(session)["root_not_compliant"] == "done"
        shown = next(s.text for s in session.steps if s.id == "root_not_compliant")
        assert shown.startswith("The check found: root has access keys: no; root has MFA: no."), \
            shown
        iam = _client(session, "iam")
        assert iam.list_access_keys(UserName="support-admin")["AccessKeyMetadata"] == []
        assert "RescindQuarantine" in _inline(iam, "support-admin")
        assert _outputs(session, "persistence")["users"] == ["support-admin"]
