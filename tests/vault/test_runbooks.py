"""The shipped Vault runbooks, each run end to end by the engine in exercise mode.

The engine starts the simulated Vault (and, for vault-approle-compromise, the
simulated AWS account too) from the runbook's scenario; the state each step leaves
is read back from them over their APIs before the session stops them.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from rescind.engine.responder import (
    Approval,
    ApprovalRequest,
    ApprovalResponse,
    EngineEvent,
    FailureChoice,
    StepState,
)
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.errors import ActionError
from rescind.modes import Mode
from tests.vault.conftest import ROOT

RUNBOOKS = ROOT / "runbooks"


class Responder:
    """Approves every plan: types the first target, or has a second person sign."""

    def __init__(self) -> None:
        from rescind.record.keys import ephemeral_signer

        self.second = ephemeral_signer("Sam Second", "sam@example.com")
        self.policies: dict[str, Approval] = {}
        self.failures: list[tuple[str, ActionError]] = []
        self.secrets: list[dict[str, Any]] = []

    async def acknowledge(self, step: StepState) -> str | None:
        return "done"

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        return default or "answer"

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        from rescind.record.approval import sign_approval

        self.policies[request.plan.step_id] = request.policy
        if request.policy is Approval.TWO_PERSON:
            return ApprovalResponse(approved=True, token=sign_approval(
                request.plan_file.read_bytes(), self.second))
        typed = request.expected_names[0] if request.policy is Approval.TYPE_NAME else None
        return ApprovalResponse(approved=True, typed=typed)

    async def on_failure(self, step: StepState, error: ActionError) -> FailureChoice:
        self.failures.append((step.id, error))
        return FailureChoice("skip", reason=f"test: {error.kind}")

    def event(self, event: EngineEvent) -> None:
        if event.kind == "secret":
            self.secrets.append(dict(event.data))


@pytest.fixture(autouse=True)
def identity(_isolated_config: Path) -> None:
    from rescind.record.keys import init_key

    init_key("Jane Responder", "jane@example.com")


@asynccontextmanager
async def exercise(tmp_path: Path, runbook: str, responder: Any = None
                   ) -> AsyncIterator[tuple[IncidentSession, Any]]:
    """``responder`` defaults to ``Responder``; the headless runner's may stand in."""
    responder = responder or Responder()
    config = SessionConfig(runbook=RUNBOOKS / f"{runbook}.yaml", mode=Mode.EXERCISE,
                           out_dir=tmp_path / "incidents")
    session = await IncidentSession.start(config, responder)
    try:
        assert await session.run() == "completed"
        yield session, responder
        await session.close()
        report = session.verify()
        assert report.status == "ok" and report.seal_verified, report.problems
    finally:
        session.shutdown()


def vault(session: IncidentSession, method: str, path: str,
          body: dict[str, Any] | None = None) -> requests.Response:
    table = session.settings["vault"]
    return requests.request(method, f"{table['address']}/v1/{path}", json=body,
                            headers={"X-Vault-Token": table["token"]}, timeout=10)


def _outputs(session: IncidentSession, step: str) -> dict[str, Any]:
    return next(s.outputs for s in session.steps if s.id == step)


def _record_text(session: IncidentSession) -> str:
    return "".join(p.read_text(errors="replace") for p in session.incident_dir.rglob("*")
                   if p.is_file() and p.suffix in (".jsonl", ".json", ".md", ".csv", ".log"))


async def test_vault_token_leak(tmp_path: Path) -> None:
    async with exercise(tmp_path, "vault-token-leak") as (session, responder):
        assert responder.failures == []
        lookup = vault(session, "POST", "auth/token/lookup-accessor",
                       {"accessor": "leakedAccessorEXAMPLE001"})
        assert lookup.status_code == 400  # revoked
        assert vault(session, "POST", "auth/token/lookup-accessor",
                     {"accessor": "childAccessorEXAMPLE0001"}).status_code == 400
        assert vault(session, "POST", "auth/token/lookup-accessor",
                     {"accessor": "otherTeamAccessorEXAMPL1"}).status_code == 200
        leases = vault(session, "LIST", "sys/leases/lookup/aws/creds/deploy").json()
        assert leases["data"]["keys"] == ["otherLeaseEXAMPLE002"]
        found = _outputs(session, "find")
        assert found["kv_secrets"] == ["secret/payments/db"]  # billing/api was denied
        assert found["lease_ids"] == ["aws/creds/deploy/leakedLeaseEXAMPLE01"]
        meta = vault(session, "GET", "secret/metadata/payments/db").json()["data"]
        assert meta["current_version"] == 2
        assert vault(session, "GET", "secret/metadata/billing/api").json()[
            "data"]["current_version"] == 1
        data = vault(session, "GET", "secret/data/payments/db").json()["data"]["data"]
        assert data["username"] == "payments_app"
        new = responder.secrets[0]["value"]["secret/payments/db"]["password"]
        assert data["password"] == new
        assert responder.policies["revoke"] is Approval.TYPE_NAME
        text = _record_text(session)
        assert new not in text, "the new value is shown once, never written"
        assert session.settings["vault"]["token"] not in text
        events = [json.loads(line) for line in
                  (session.incident_dir / "timeline.jsonl").read_text().splitlines()]
        assert {e["cloud"] for e in events} >= {"vault"}
        assert any(e["action"] == "read secret/data/payments/db" for e in events)


async def test_vault_approle_compromise_spans_vault_and_aws(tmp_path: Path) -> None:
    async with exercise(tmp_path, "vault-approle-compromise") as (session, responder):
        assert responder.failures == []
        base = "auth/approle/role/payments"
        left = vault(session, "LIST", f"{base}/secret-id").json()["data"]["keys"]
        assert left == ["5e1ec7ed-0000-4000-8000-EXAMPLE00002"]
        role_id = vault(session, "GET", f"{base}/role-id").json()["data"]["role_id"]
        assert role_id != "0f0e0d0c-0000-4000-8000-EXAMPLEROLE1"
        assert role_id == next(s["value"] for s in responder.secrets if s["name"] == "role_id")
        for prefix in ("database/creds/payments", "aws/creds/payments"):
            assert vault(session, "LIST", f"sys/leases/lookup/{prefix}").status_code == 404
        assert responder.policies["revoke-db-creds"] is Approval.TWO_PERSON
        static = vault(session, "GET", "database/static-roles/payments-static").json()["data"]
        plan_before = next(e for e in session.steps if e.id == "rotate-db-static")
        assert plan_before.status.value == "done" and static["ttl"] > 86000
        assert _outputs(session, "find")["kv_secrets"] == ["secret/payments/config"]
        assert vault(session, "GET", "secret/metadata/payments/config").json()[
            "data"]["current_version"] == 2
        # The AWS half: Vault's own engine key is deactivated in the simulated account.
        import boto3

        aws = session.settings["aws"]
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=aws["endpoint_url"],
                           aws_access_key_id=aws["access_key_id"],
                           aws_secret_access_key=str(aws["secret_access_key"]))
        keys = iam.list_access_keys(UserName="vault-aws-engine")["AccessKeyMetadata"]
        assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [
            ("AKIAIOSFODNN7EXAMPLE", "Inactive")]
        assert role_id not in _record_text(session)


async def test_the_headless_runner_prints_each_new_kv_value_on_its_own_line(
        tmp_path: Path) -> None:
    """`rescind run vault-approle-compromise --no-tui --auto-approve`: a responder copies
    each new value from its own line; the record holds none of them."""
    from rescind.headless import ExerciseResponder

    out = io.StringIO()
    async with exercise(tmp_path, "vault-approle-compromise", ExerciseResponder(out)) as (
            session, _):
        new = vault(session, "GET", "secret/data/payments/config").json()["data"]["data"]
        role_id = vault(session, "GET", "auth/approle/role/payments/role-id").json()[
            "data"]["role_id"]
    printed = out.getvalue().splitlines()
    assert "   SECRET new_values (shown once, store it now):" in printed
    for field in ("stripe_key", "webhook_secret"):
        assert f"     secret/payments/config {field}: {new[field]}" in printed
    assert f"   SECRET role_id (shown once, store it now): {role_id}" in printed
    shown = [new["stripe_key"], new["webhook_secret"], role_id]
    for path in session.incident_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [v for v in shown if v.encode() in data], path
