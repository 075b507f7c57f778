"""Each GCP action: plan read-only, apply exactly the plan, verify by read-back, undo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rescind.actions import registry
from rescind.actions.base import Plan, Risk
from rescind.errors import ActionError
from rescind.providers.gcp import GcpProvider
from tests.gcp.conftest import (
    ATTACKER_KEY,
    CONNECTOR,
    LEAKED_KEY,
    SYSTEM_KEY,
    WIF,
    context,
    provider_for,
    running,
)

BQ_CONDITION = "billing_export only"


async def _plan(provider: GcpProvider, tmp_path: Path, name: str,
                params: dict[str, Any]) -> tuple[Any, Any, Plan]:
    action = registry.get(name)()  # type: ignore[misc]
    ctx, _ = context(provider, tmp_path)
    return action, ctx, await action.plan(ctx, action.parse_params(params), "step")


async def test_describe_reads_keys_bindings_and_who_may_act(provider, sandbox, tmp_path) -> None:
    action, ctx, plan = await _plan(provider, tmp_path, "gcp.sa.describe",
                                    {"service_account": CONNECTOR})
    assert sandbox.operations() == []  # plan of a read-only action reads nothing yet
    out = (await action.apply(ctx, plan)).outputs
    assert out["user_managed_keys"] == [LEAKED_KEY, ATTACKER_KEY]
    assert out["system_managed_keys"] == [SYSTEM_KEY]
    system = next(k for k in out["keys"] if k["id"] == SYSTEM_KEY)
    assert system["expires"] and not system["user_managed"]
    assert {"role": "roles/bigquery.dataViewer", "condition": BQ_CONDITION} in out["project_roles"]
    assert out["owner"] is False and out["disabled"] is False
    assert sandbox.mutating() == []


async def test_disable_account_verifies_by_read_back_and_undo_enables(provider, sandbox,
                                                                      tmp_path) -> None:
    action, ctx, plan = await _plan(provider, tmp_path, "gcp.sa.disable",
                                    {"service_account": CONNECTOR})
    assert sandbox.mutating() == [] and plan.targets == [CONNECTOR]
    assert any("up to 1 hour" in w for w in plan.warnings)
    result = await action.apply(ctx, plan)
    assert sandbox.state.accounts[CONNECTOR].disabled
    assert (await action.verify(ctx, plan, None)).ok
    await action.undo(ctx, plan, result)
    assert not sandbox.state.accounts[CONNECTOR].disabled
    assert not (await action.verify(ctx, plan, None)).ok  # verify reads, it does not trust


async def test_disable_keys_leaves_system_managed_keys_and_says_so(provider, sandbox,
                                                                   tmp_path) -> None:
    action, ctx, plan = await _plan(provider, tmp_path, "gcp.sa_key.disable",
                                    {"service_account": CONNECTOR, "all_keys": True})
    assert plan.targets == [LEAKED_KEY, ATTACKER_KEY]
    assert any(SYSTEM_KEY in w and "cannot be disabled" in w for w in plan.warnings)
    await action.apply(ctx, plan)
    keys = sandbox.state.keys
    assert keys[LEAKED_KEY].disabled and keys[ATTACKER_KEY].disabled
    assert not keys[SYSTEM_KEY].disabled
    assert "iam.serviceAccountKeys.disable" in sandbox.operations()
    assert (await action.verify(ctx, plan, None)).ok


async def test_delete_refuses_enabled_keys_then_deletes_disabled_ones(provider, sandbox,
                                                                      tmp_path) -> None:
    with pytest.raises(ActionError) as refused:
        await _plan(provider, tmp_path, "gcp.sa_key.delete",
                    {"service_account": CONNECTOR, "key_id": LEAKED_KEY})
    assert refused.value.kind == "refused" and "gcp.sa_key.disable" in (refused.value.fix or "")
    sandbox.state.keys[LEAKED_KEY].disabled = True
    action, ctx, plan = await _plan(provider, tmp_path, "gcp.sa_key.delete",
                                    {"service_account": CONNECTOR, "key_id": LEAKED_KEY})
    assert plan.risk is Risk.HIGH and not plan.reversible
    await action.apply(ctx, plan)
    assert LEAKED_KEY not in sandbox.state.keys and ATTACKER_KEY in sandbox.state.keys
    assert (await action.verify(ctx, plan, None)).ok


async def test_delete_stops_when_a_key_was_enabled_again_since_the_plan(provider, sandbox,
                                                                        tmp_path) -> None:
    sandbox.state.keys[LEAKED_KEY].disabled = True
    action, ctx, plan = await _plan(provider, tmp_path, "gcp.sa_key.delete",
                                    {"service_account": CONNECTOR, "key_id": LEAKED_KEY})
    sandbox.state.keys[LEAKED_KEY].disabled = False  # someone re-enabled it
    with pytest.raises(ActionError) as conflict:
        await action.apply(ctx, plan)
    assert conflict.value.kind == "conflict"
    assert LEAKED_KEY in sandbox.state.keys
    assert "iam.serviceAccountKeys.delete" not in sandbox.operations()


async def test_remove_project_bindings_keeps_conditions_and_other_members(provider, sandbox,
                                                                          tmp_path) -> None:
    action, ctx, plan = await _plan(provider, tmp_path, "gcp.project.remove_bindings",
                                    {"member": CONNECTOR})
    assert plan.risk is Risk.HIGH
    assert {c.field for c in plan.changes} == {
        "roles/storage.objectViewer", f"roles/bigquery.dataViewer (if {BQ_CONDITION})"}
    before = sandbox.state.project_policy
    result = await action.apply(ctx, plan)
    after = sandbox.state.project_policy
    assert after["etag"] != before["etag"]
    members = [m for b in after["bindings"] for m in b["members"]]
    assert f"serviceAccount:{CONNECTOR}" not in members
    assert "group:finance@example.com" in members and "user:admin@example.com" in members
    assert (await action.verify(ctx, plan, None)).ok
    await action.undo(ctx, plan, result)
    restored = sandbox.state.project_policy["bindings"]
    bq = next(b for b in restored if b["role"] == "roles/bigquery.dataViewer")
    assert bq["condition"]["title"] == BQ_CONDITION  # conditional binding survived v3
    assert f"serviceAccount:{CONNECTOR}" in bq["members"]


async def test_a_policy_changed_since_the_plan_is_a_conflict(provider, sandbox,
                                                             tmp_path) -> None:
    action, ctx, plan = await _plan(provider, tmp_path, "gcp.project.remove_bindings",
                                    {"member": CONNECTOR})
    from rescind.sandbox.gcp_state import etag_of

    with sandbox.state.lock:  # another admin adds a binding meanwhile
        policy = sandbox.state.project_policy
        policy["bindings"].append({"role": "roles/viewer", "members": ["user:x@example.com"]})
        policy["etag"] = etag_of(policy)
    with pytest.raises(ActionError) as conflict:
        await action.apply(ctx, plan)
    assert conflict.value.kind == "conflict"
    assert "resourcemanager.projects.setIamPolicy" not in sandbox.operations()


async def test_a_stale_etag_at_the_server_is_a_conflict(provider, sandbox) -> None:
    policy = provider.project_policy("example-project")
    provider.set_project_policy("example-project", {**policy, "bindings": policy["bindings"][:1]})
    with pytest.raises(ActionError) as conflict:  # written back with the first etag
        provider.set_project_policy("example-project", policy)
    assert conflict.value.kind == "conflict" and "re-plan" in (conflict.value.fix or "")


async def test_removing_an_owner_binding_needs_two_people(provider, sandbox, tmp_path) -> None:
    _, _, plan = await _plan(provider, tmp_path, "gcp.project.remove_bindings",
                             {"member": "user:admin@example.com"})
    assert plan.risk is Risk.CRITICAL
    assert any("roles/owner" in w for w in plan.warnings)


async def test_workload_identity_provider_and_binding_are_cut_and_restored(tmp_path) -> None:
    with running(WIF) as sandbox:
        provider = provider_for(sandbox)
        try:
            action, ctx, plan = await _plan(provider, tmp_path, "gcp.wif.disable_provider",
                                            {"pool": "tailpipe-pool",
                                             "provider": "tailpipe-provider"})
            result = await action.apply(ctx, plan)
            (state,) = sandbox.state.providers.values()
            assert state["disabled"] is True
            assert (await action.verify(ctx, plan, None)).ok
            await action.undo(ctx, plan, result)
            assert state["disabled"] is False
            unbind, ctx, plan = await _plan(provider, tmp_path, "gcp.sa.remove_bindings",
                                            {"service_account": CONNECTOR,
                                             "roles": ["roles/iam.workloadIdentityUser"]})
            await unbind.apply(ctx, plan)
            roles = [b["role"] for b in sandbox.state.accounts[CONNECTOR].policy["bindings"]]
            assert roles == ["roles/iam.serviceAccountUser"]
            assert (await unbind.verify(ctx, plan, None)).ok
        finally:
            provider.close()


async def test_many_targets_run_concurrently_with_each_journaled(tmp_path) -> None:
    from rescind.sandbox.gcp_scenario import GcpScenario

    accounts = [{"email": f"svc-{i:02d}@example-project.iam.gserviceaccount.com",
                 "keys": [{"id": f"{i:02d}{k}".ljust(40, "a")} for k in range(2)]}
                for i in range(5)]
    with running(GcpScenario.model_validate({"service_accounts": accounts})) as sandbox:
        provider = provider_for(sandbox)
        try:
            action = registry.get("gcp.sa_key.disable")()  # type: ignore[misc]
            ctx, journal = context(provider, tmp_path)
            params = action.parse_params({"service_accounts": [a["email"] for a in accounts],
                                          "all_keys": True})
            plan = await action.plan(ctx, params, "step")
            await action.apply(ctx, plan)
        finally:
            provider.close()
        assert all(k.disabled for k in sandbox.state.keys.values())
        stages = [d["stage"] for kind, d in journal if kind == "action.target"]
        assert stages.count("intent") == stages.count("outcome") == 10


