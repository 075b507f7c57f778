"""AWS failures through the whole engine: a clear message, a choice, nothing lost.

The unit tests in test_errors.py check each failure kind at the action; these check
what the responder meets: the step fails, the responder retries or skips, and the
record still verifies with every attempt in it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rescind.engine.responder import (
    ApprovalRequest,
    ApprovalResponse,
    EngineEvent,
    FailureChoice,
    StepState,
)
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.providers.aws import AwsProvider
from rescind.record.journal import read_entries
from rescind.record.verify import verify_incident
from rescind.sandbox.aws import AwsSandbox
from tests.aws.conftest import LEAKED_KEY, read_only_provider

RUNBOOK = """\
id: contain-one-key
title: Contain one key
clouds: [aws]
inputs:
  access_key_id: {type: string}
phases:
  contain:
    - id: deactivate
      action: aws.iam.deactivate_access_key
      with: {access_key_id: "${{ inputs.access_key_id }}"}
  document:
    - id: summary
      note: "Contained"
"""
@pytest.fixture
def identity() -> None:
    from rescind.record.keys import init_key

    init_key("Jane Responder", "jane@example.com")


class Responder:
    def __init__(self, on_approve: Callable[[], None] | None = None,
                 on_failure: Callable[[ActionError], FailureChoice] | None = None) -> None:
        self._on_approve = on_approve
        self._on_failure = on_failure
        self.errors: list[ActionError] = []

    async def acknowledge(self, step: StepState) -> str | None:
        return None

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        return default or ""

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        if self._on_approve:
            self._on_approve()
        return ApprovalResponse(approved=True)

    async def on_failure(self, step: StepState, error: ActionError) -> FailureChoice:
        self.errors.append(error)
        assert self._on_failure is not None
        return self._on_failure(error)

    def event(self, event: EngineEvent) -> None:
        pass


async def run(tmp_path: Path, provider: AwsProvider, responder: Responder) -> IncidentSession:
    runbook = tmp_path / "rb.yaml"
    runbook.write_text(RUNBOOK)
    session = await IncidentSession.start(SessionConfig(
        runbook=runbook, mode=Mode.LIVE, inputs={"access_key_id": LEAKED_KEY},
        out_dir=tmp_path / "incidents", providers={"aws": provider}), responder)
    try:
        assert await session.run() == "completed"
        await session.close()
    finally:
        session.shutdown()
    return session


def key_status(sandbox: AwsSandbox) -> str:
    keys = sandbox.client("iam").list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in keys}.get(LEAKED_KEY, "gone")


def journal(session: IncidentSession) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.data) for e in read_entries(session.incident_dir / "journal.jsonl")]


@pytest.mark.usefixtures("identity")
async def test_missing_permission_then_granted_and_retried(
        sandbox: AwsSandbox, tmp_path: Path, enforced_iam: None) -> None:
    iam = sandbox.client("iam")
    provider = read_only_provider(sandbox, "ir-responder")

    def grant_and_retry(error: ActionError) -> FailureChoice:
        iam.put_user_policy(UserName="ir-responder", PolicyName="contain",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                {"Effect": "Allow", "Resource": "*",
                                 "Action": "iam:UpdateAccessKey"}]}))
        return FailureChoice("retry")

    responder = Responder(on_failure=grant_and_retry)
    try:
        session = await run(tmp_path, provider, responder)
    finally:
        provider.close()
    assert [e.kind for e in responder.errors] == ["permission"]
    assert "iam:UpdateAccessKey" in responder.errors[0].message
    assert key_status(sandbox) == "Inactive"
    entries = journal(session)
    failed = [d for k, d in entries if k == "step.failed"]
    assert failed[0]["kind"] == "permission" and "iam:UpdateAccessKey" in failed[0]["error"]
    assert ("step.choice", {"step": "deactivate", "choice": "retry", "reason": ""}) in entries
    assert [d["ok"] for k, d in entries if k == "action.outcome"] == [True]
    assert verify_incident(session.incident_dir).exit_code == 0


@pytest.mark.usefixtures("identity")
async def test_target_vanishing_after_the_plan_is_skipped_with_a_reason(
        sandbox: AwsSandbox, tmp_path: Path) -> None:
    settings = sandbox.provider_settings()
    provider = AwsProvider(endpoint_url=sandbox.endpoint_url, credentials={
        "access_key_id": settings["access_key_id"],
        "secret_access_key": settings["secret_access_key"]})

    def someone_deletes_the_key() -> None:
        sandbox.client("iam").delete_access_key(UserName="deploy-bot", AccessKeyId=LEAKED_KEY)

    responder = Responder(on_approve=someone_deletes_the_key,
                          on_failure=lambda e: FailureChoice("skip", "key already deleted"))
    try:
        session = await run(tmp_path, provider, responder)
    finally:
        provider.close()
    assert [e.kind for e in responder.errors] == ["not-found"]
    assert key_status(sandbox) == "gone"
    entries = journal(session)
    kinds = [k for k, _ in entries]
    assert kinds.index("action.intent") < kinds.index("step.failed")
    assert ("step.skipped", {"step": "deactivate", "reason": "key already deleted"}) in entries
    assert verify_incident(session.incident_dir).exit_code == 0
