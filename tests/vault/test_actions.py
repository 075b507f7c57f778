"""Every Vault action live against the simulated Vault, with a token holding exactly the
policy the action declares, and in dry-run, where nothing mutating may reach it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from rescind.actions import registry
from rescind.actions.base import ActionContext
from rescind.modes import Mode
from rescind.providers.vault_guard import is_read
from rescind.providers.vault_policy import grants, parse_permission
from rescind.sandbox.vault import VaultSandbox
from tests.vault.cases import MUTATING, Case, snapshot
from tests.vault.conftest import Recorder, mutating, token_with


@pytest.mark.parametrize("case", MUTATING, ids=lambda c: c.id)
async def test_live_with_least_privilege(case: Case, sandbox: VaultSandbox,
                                         make_ctx: Callable[..., ActionContext],
                                         recorder: Recorder) -> None:
    cls = registry.get(case.action)
    assert cls is not None
    # The action's declared policy alone (plus Vault's default policy) must be enough.
    ctx = make_ctx(Mode.EXERCISE, token=token_with(sandbox, cls.permissions))  # type: ignore[attr-defined]
    before = snapshot(sandbox)
    action = cls()
    plan = await action.plan(ctx, action.parse_params(case.resolve(sandbox)), "step")
    assert plan.mutating and plan.targets
    assert all(s.status < 400 for s in sandbox.served), [
        (s.cap, s.path, s.status) for s in sandbox.served]
    assert snapshot(sandbox) == before, "plan is read-only"
    result = await action.apply(ctx, plan)
    verification = await action.verify(ctx, plan, result)
    assert verification.ok, verification.detail
    case.check(sandbox, before, result.outputs)
    # Each target's intent and outcome are journaled.
    stages = [d["stage"] for k, d in recorder.entries if k == "action.target"]
    assert stages.count("intent") == stages.count("outcome") >= 1
    # Nothing secret in the plan that is journaled and signed.
    assert sandbox.responder_token not in plan.canonical_bytes().decode()
    for token in sandbox.tokens.values():
        assert token.id not in plan.canonical_bytes().decode()


@pytest.mark.parametrize("case", MUTATING, ids=lambda c: c.id)
async def test_dry_run_sends_no_mutating_request(case: Case, sandbox: VaultSandbox,
                                                 make_ctx: Callable[..., ActionContext],
                                                 recorder: Recorder) -> None:
    cls = registry.get(case.action)
    assert cls is not None
    ctx = make_ctx(Mode.DRY_RUN)
    before = snapshot(sandbox)
    action = cls()
    plan = await action.plan(ctx, action.parse_params(case.resolve(sandbox)), "step")
    await action.apply(ctx, plan)
    served = [(s.cap, s.path) for s in sandbox.served]
    assert served, "the plan's reads reach the simulated Vault"
    assert mutating(sandbox) == []
    assert snapshot(sandbox) == before
    assert [b.operation for b in recorder.blocked] == case.blocked
    for call in recorder.blocked:
        assert call.provider == "vault"
        assert call.describe().startswith(f"would call {call.operation} ")
        text = json.dumps(call.params)
        for token in sandbox.tokens.values():
            assert token.id not in text
    # docs/vault.md prints each action's policy from `permissions`: it covers every call.
    declared: tuple[str, ...] = cls.permissions  # type: ignore[attr-defined]
    used = served + [tuple(b.operation.split(" ", 1)) for b in recorder.blocked]
    uncovered = [f"{c} {p}" for c, p in used
                 if p != "auth/token/lookup-self" and not grants(declared, c, p)]
    assert uncovered == []


def test_every_allowed_read_is_a_read() -> None:
    from rescind.providers.vault_guard import READS

    for cap, path in READS:
        assert cap in ("read", "list", "update"), (cap, path)
    assert not is_read("read", "aws/creds/deploy"), "minting credentials is not a read"
    assert not is_read("read", "database/creds/readonly")
    assert not is_read("update", "auth/token/revoke-accessor")
    assert is_read("list", "sys/leases/lookup/aws/creds/deploy")


def test_declared_permissions_are_well_formed() -> None:
    for cls in registry.all_actions():
        if "vault" in cls.providers:
            for entry in cls.permissions:  # type: ignore[attr-defined]
                parse_permission(entry)


async def test_rotate_root_verify_reads_the_rotation_back_from_the_audit_log(
        sandbox: VaultSandbox, make_ctx: Callable[..., ActionContext]) -> None:
    """Vault shows neither the root password nor its age: verify reads the audit device's
    record of the rotation, so a plan that never reached Vault does not verify."""
    from rescind.actions.base import Result

    action = registry.get("vault.database.rotate_root")()  # type: ignore[misc]
    ctx = make_ctx(Mode.EXERCISE)
    plan = await action.plan(ctx, action.parse_params({"connection": "payments-db"}), "root")
    claimed = Result(outputs={"connection": "payments-db", "username": "vault-admin"})
    missed = await action.verify(ctx, plan, claimed)
    assert not missed.ok and "no update database/rotate-root/payments-db" in missed.detail
    result = await action.apply(ctx, plan)
    assert sandbox.state.connections["payments-db"].root_rotations == 1
    verified = await action.verify(ctx, plan, result)
    assert verified.ok and "audit log" in verified.detail, verified.detail
    # With the outcome lost (killed after the call), the audit log still tells.
    assert (await action.verify(ctx, plan, None)).ok
    # Without an audit log, verify says what it could not read.
    bare = make_ctx(Mode.EXERCISE, audit_logs=[])
    assert "no audit log is configured" in (await action.verify(bare, plan, None)).detail
