"""The dry-run guard, proven at the fakes: no mutating request arrives, each is journaled."""

from __future__ import annotations

from pathlib import Path

import pytest

from rescind.engine.session import IncidentSession, SessionConfig
from rescind.modes import Mode
from rescind.providers.base import BlockedCall
from rescind.providers.gcp_guard import rest_rpc
from rescind.record.journal import read_entries
from tests.aws.test_runbooks import AutoResponder
from tests.gcp.conftest import CONNECTOR, LEAKED_KEY, ROOT, WIF, running

SA = f"projects/-/serviceAccounts/{CONNECTOR}"
PROVIDER_PATH = ("/v1/projects/example-project/locations/global/workloadIdentityPools/"
                 "tailpipe-pool/providers/tailpipe-provider")


def test_each_gate_blocks_writes_and_lets_reads_through_by_rpc_name(sandbox, provider) -> None:
    blocked: list[BlockedCall] = []
    provider.install_dry_run_guard(blocked.append)
    assert provider.guarded
    # Reads, two of them POSTs, reach the fakes.
    policy = provider.project_policy("example-project")
    provider.account_policy(CONNECTOR)
    provider.iam_list("list_service_account_keys", {"name": SA}, "keys",
                      permission="iam.serviceAccountKeys.list")
    provider.logging_client("example-project")._connection.api_request(
        method="POST", path="/entries:list",
        data={"resourceNames": ["projects/example-project"], "pageSize": 10})
    # Writes through each transport never leave the process.
    provider.iam_call("disable_service_account", {"name": SA}, permission="x")
    provider.iam_call("delete_service_account_key", {"name": f"{SA}/keys/{LEAKED_KEY}"},
                      permission="x")
    echoed = provider.set_project_policy("example-project", {**policy, "bindings": []})
    provider.set_account_policy(CONNECTOR, {"bindings": []})
    provider.rest_call("PATCH", provider.rest_url("iam", PROVIDER_PATH), permission="x",
                       params={"updateMask": "disabled"}, body={"disabled": True})
    assert sandbox.mutating() == []
    assert sorted(sandbox.operations()) == sorted([
        "resourcemanager.projects.getIamPolicy", "iam.serviceAccounts.getIamPolicy",
        "iam.serviceAccountKeys.list", "logging.logEntries.list"])
    assert [b.operation for b in blocked] == [
        "iam.DisableServiceAccount", "iam.DeleteServiceAccountKey",
        "resourcemanager.projects.setIamPolicy", "iam.SetIamPolicy",
        "iam.workloadIdentityPoolProviders.patch"]
    # The policy it would have written (an empty list is omitted), not a real answer.
    assert echoed.get("bindings", []) == [] and echoed["etag"] == policy["etag"]
    state = sandbox.state
    assert not state.accounts[CONNECTOR].disabled and LEAKED_KEY in state.keys
    assert all(b.describe().startswith("would call ") for b in blocked)


@pytest.mark.parametrize(("method", "url", "rpc"), [
    ("POST", "https://logging.googleapis.com/v2/entries:list", "logging.entries.list"),
    ("POST", "https://logging.googleapis.com/v2/entries:write", "logging.entries.write"),
    ("GET", f"https://iam.googleapis.com{PROVIDER_PATH}", "iam.workloadIdentityPoolProviders.get"),
    ("DELETE", f"https://iam.googleapis.com{PROVIDER_PATH}", f"DELETE {PROVIDER_PATH}"),
])
def test_rest_calls_are_named_by_rpc_not_by_method(method: str, url: str, rpc: str) -> None:
    assert rest_rpc(method, url) == rpc


def test_an_unknown_rest_call_is_blocked_even_when_it_is_a_get(sandbox, provider) -> None:
    blocked: list[BlockedCall] = []
    provider.install_dry_run_guard(blocked.append)
    provider.rest().request("GET", f"{sandbox.rest_endpoint}/v1/projects/example-project:undo",
                            timeout=5)
    assert sandbox.operations() == [] and len(blocked) == 1


@pytest.mark.parametrize(("runbook", "scenario", "inputs"), [
    ("gcp-service-account-key-compromise.yaml", None,
     {"service_account": CONNECTOR, "key_id": LEAKED_KEY}),
    ("gcp-workload-identity-compromise.yaml", WIF, {"service_account": CONNECTOR}),
])
async def test_dry_run_of_each_runbook_sends_nothing_that_mutates(
        runbook: str, scenario: Path | None, inputs: dict[str, str], tmp_path: Path) -> None:
    with running(scenario) if scenario else running() as sandbox:
        config = SessionConfig(runbook=ROOT / "runbooks" / runbook, mode=Mode.DRY_RUN,
                               inputs=inputs, out_dir=tmp_path,
                               settings={"gcp": sandbox.provider_settings()})
        session = await IncidentSession.start(config, AutoResponder())
        try:
            assert await session.run() == "completed"
            blocked = [e.data["text"] for e in read_entries(session.journal.path)
                       if e.kind == "dryrun.blocked"]
        finally:
            session.shutdown()
        assert sandbox.mutating() == []
        assert blocked and all(t.startswith("would call ") for t in blocked)
        state = sandbox.state
        assert not state.accounts[CONNECTOR].disabled
        assert all(p["disabled"] is False for p in state.providers.values())
