"""Guardrails and errors: refusals before any plan, and Vault's failures as one message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rescind.actions import registry
from rescind.actions.base import ActionContext, Plan, Risk
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.sandbox.vault import VaultSandbox, start_vault_sandbox
from rescind.sandbox.vault_scenario import VaultScenario
from tests.vault.cases import LEAKED, snapshot
from tests.vault.conftest import SCENARIO, mutating, token_with


async def _plan(ctx: ActionContext, name: str, params: dict[str, Any]) -> Plan:
    cls = registry.get(name)
    assert cls is not None
    action = cls()
    return await action.plan(ctx, action.parse_params(params), "step")


async def test_never_its_own_token(sandbox: VaultSandbox,
                                   make_ctx: Callable[..., ActionContext]) -> None:
    own = sandbox.state.tokens[sandbox.responder_token].accessor
    with pytest.raises(ActionError) as err:
        await _plan(make_ctx(), "vault.token.revoke", {"accessor": own})
    assert err.value.kind == "refused" and "rescind is running with" in err.value.message


async def test_no_token_revocation_while_its_own_token_has_a_parent() -> None:
    spec = VaultScenario.model_validate({**SCENARIO, "responder": {"orphan": False}})
    with start_vault_sandbox(spec) as sandbox:
        from rescind.providers.vault import VaultProvider

        provider = VaultProvider.from_settings(
            VaultProvider.Settings.model_validate(sandbox.provider_settings()), Mode.EXERCISE)
        ctx = ActionContext(mode=Mode.EXERCISE, incident_dir=sandbox.audit_path.parent,
                            providers={"vault": provider}, journal=lambda k, d: 0)
        before = snapshot(sandbox)
        with pytest.raises(ActionError) as err:
            await _plan(ctx, "vault.token.revoke", {"accessor": LEAKED})
        provider.close()
        assert err.value.kind == "refused" and "-orphan" in (err.value.fix or "")
        assert snapshot(sandbox) == before


async def test_break_glass_and_target_cap(sandbox: VaultSandbox,
                                          make_ctx: Callable[..., ActionContext]) -> None:
    ctx = make_ctx(break_glass=[LEAKED, "payments"])
    for name, params in (("vault.token.revoke", {"accessor": LEAKED}),
                         ("vault.approle.rotate_role_id", {"role": "payments"})):
        with pytest.raises(ActionError) as err:
            await _plan(ctx, name, params)
        assert err.value.kind == "refused" and "break-glass" in err.value.message
    many = [f"accessorNumber{n:010d}" for n in range(21)]
    with pytest.raises(ActionError) as err:
        await _plan(make_ctx(), "vault.token.revoke", {"accessors": many})
    assert "limit of 20" in err.value.message and "max_targets" in (err.value.fix or "")


@pytest.mark.parametrize("prefix", ["aws", "aws/", "", "/"])
async def test_whole_mount_or_root_needs_the_explicit_flag(
        prefix: str, sandbox: VaultSandbox, make_ctx: Callable[..., ActionContext]) -> None:
    with pytest.raises(ActionError) as err:
        await _plan(make_ctx(), "vault.lease.revoke_prefix", {"prefix": prefix})
    assert err.value.kind == "refused" and "whole_mount: true" in (err.value.fix or "")
    plan = await _plan(make_ctx(), "vault.lease.revoke_prefix",
                       {"prefix": prefix, "whole_mount": True})
    # Critical (two people), and the approver types the path.
    assert plan.risk is Risk.CRITICAL and plan.targets == [prefix.strip("/") or "/"]


async def test_all_secret_ids_is_critical(sandbox: VaultSandbox,
                                          make_ctx: Callable[..., ActionContext]) -> None:
    plan = await _plan(make_ctx(), "vault.approle.destroy_secret_id",
                       {"role": "payments", "all": True})
    assert plan.risk is Risk.CRITICAL


async def test_missing_capability_names_the_policy_to_add(
        sandbox: VaultSandbox, make_ctx: Callable[..., ActionContext]) -> None:
    ctx = make_ctx(token=token_with(sandbox, ["update auth/token/lookup-accessor"]))
    cls = registry.get("vault.token.revoke")
    assert cls is not None
    action = cls()
    plan = await action.plan(ctx, action.parse_params({"accessor": LEAKED}), "step")
    with pytest.raises(ActionError) as err:
        await action.apply(ctx, plan)
    assert err.value.kind == "permission"
    assert 'path "auth/token/revoke-accessor"' in (err.value.fix or "")
    assert sandbox.state.by_accessor(LEAKED) is not None


async def test_a_revoked_token_is_expired_not_permission(
        sandbox: VaultSandbox, make_ctx: Callable[..., ActionContext]) -> None:
    ctx = make_ctx()
    with sandbox.state.lock:
        sandbox.state.tokens.pop(sandbox.responder_token)
    with pytest.raises(ActionError) as err:
        await _plan(ctx, "vault.token.describe", {"accessor": LEAKED})
    assert err.value.kind == "expired" and "vault login" in (err.value.fix or "")


async def test_gone_accessor_is_not_found(sandbox: VaultSandbox,
                                          make_ctx: Callable[..., ActionContext]) -> None:
    with pytest.raises(ActionError) as err:
        await _plan(make_ctx(), "vault.token.describe", {"accessor": "noSuchAccessorEXAMPLE01"})
    assert err.value.kind == "not-found"


async def test_rate_limit_is_retried_until_answered() -> None:
    spec = VaultScenario.model_validate({**SCENARIO, "rate_limit": {"rate": 20, "burst": 1}})
    with start_vault_sandbox(spec) as sandbox:
        from rescind.providers.vault import VaultProvider

        provider = VaultProvider.from_settings(
            VaultProvider.Settings.model_validate(sandbox.provider_settings()), Mode.EXERCISE)
        ctx = ActionContext(mode=Mode.EXERCISE, incident_dir=sandbox.audit_path.parent,
                            providers={"vault": provider}, journal=lambda k, d: 0)
        plan = await _plan(ctx, "vault.approle.describe", {"role": "payments"})
        provider.close()
        assert plan.state["count"] == 2
        assert any(s.status == 429 for s in sandbox.served), "the quota was hit"
        assert provider.throttled >= 1
        assert mutating(sandbox) == []


def test_a_token_in_the_settings_is_refused_outside_exercise() -> None:
    from rescind.errors import UsageError
    from rescind.providers.vault import VaultProvider

    settings = VaultProvider.Settings.model_validate({"token": "hvs.EXAMPLE"})
    with pytest.raises(UsageError) as err:
        VaultProvider.from_settings(settings, Mode.LIVE)
    assert "VAULT_TOKEN" in (err.value.fix or "")
