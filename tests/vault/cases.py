"""The Vault actions' test cases: params, and what the simulated Vault must show after."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rescind.sandbox.vault import VaultSandbox

LEAKED = "leakedAccessorEXAMPLE001"
CHILD = "childAccessorEXAMPLE0001"
SID1 = "0a1b2c3d-0000-4000-8000-EXAMPLE00001"
SID2 = "0a1b2c3d-0000-4000-8000-EXAMPLE00002"


def snapshot(sandbox: VaultSandbox) -> dict[str, Any]:
    """Everything the actions could change, read from the simulated Vault's state."""
    s = sandbox.state
    with s.lock:
        return {"tokens": sorted((t.accessor, t.parent is None) for t in s.tokens.values()),
                "leases": sorted(s.leases),
                "secret_ids": {r.name: sorted(r.secret_ids) for r in s.roles.values()},
                "role_ids": {r.name: r.role_id for r in s.roles.values()},
                "kv": {p: [(v.data, v.destroyed) for v in vs] for p, vs in s.kv.items()},
                "static": {n: r.last_rotation for n, r in s.static_roles.items()},
                "root": {n: c.root_rotations for n, c in s.connections.items()}}


def _accessors(sandbox: VaultSandbox) -> set[str]:
    return {t.accessor for t in sandbox.state.tokens.values()}


@dataclass
class Case:
    id: str
    action: str
    params: dict[str, Any] | Callable[[VaultSandbox], dict[str, Any]]
    check: Callable[[VaultSandbox, dict[str, Any], dict[str, Any]], None]
    blocked: list[str] = field(default_factory=list)

    def resolve(self, sandbox: VaultSandbox) -> dict[str, Any]:
        return self.params(sandbox) if callable(self.params) else dict(self.params)


def _revoked(sandbox: VaultSandbox, before: dict[str, Any], out: dict[str, Any]) -> None:
    left = _accessors(sandbox)
    assert LEAKED not in left and CHILD not in left
    assert {"ciParentAccessorEXAMPLE1", "bystanderAccessorEXAMP01"} <= left
    # The token's own lease went with it; another one under the same role did not.
    assert sorted(sandbox.state.leases) == ["aws/creds/deploy/leaseEXAMPLE02",
                                            "database/creds/readonly/leaseEXAMPLE03"]


def _orphaned(sandbox: VaultSandbox, before: dict[str, Any], out: dict[str, Any]) -> None:
    assert LEAKED not in _accessors(sandbox)
    child = sandbox.state.by_accessor(CHILD)
    assert child is not None and child.orphan


def _one_secret_id(sandbox: VaultSandbox, before: dict[str, Any], out: dict[str, Any]) -> None:
    assert sorted(sandbox.state.roles["payments"].secret_ids) == [SID2]


def _no_secret_id(sandbox: VaultSandbox, before: dict[str, Any], out: dict[str, Any]) -> None:
    assert sandbox.state.roles["payments"].secret_ids == {}


def _role_id(sandbox: VaultSandbox, before: dict[str, Any], out: dict[str, Any]) -> None:
    now = sandbox.state.roles["payments"].role_id
    assert now != before["role_ids"]["payments"] and now == out["role_id"]


def _prefix(sandbox: VaultSandbox, before: dict[str, Any], out: dict[str, Any]) -> None:
    assert sorted(sandbox.state.leases) == ["database/creds/readonly/leaseEXAMPLE03"]
    assert out["count"] == 2


def _lease(sandbox: VaultSandbox, before: dict[str, Any], out: dict[str, Any]) -> None:
    assert "aws/creds/deploy/leaseEXAMPLE02" not in sandbox.state.leases
    assert len(sandbox.state.leases) == 2


def _root(sandbox: VaultSandbox, before: dict[str, Any], out: dict[str, Any]) -> None:
    assert sandbox.state.connections["payments-db"].root_rotations == 1


def _static(sandbox: VaultSandbox, before: dict[str, Any], out: dict[str, Any]) -> None:
    assert sandbox.state.static_roles["payments-static"].last_rotation > \
        before["static"]["payments-static"]


def _kv(destroyed: bool) -> Callable[[VaultSandbox, dict[str, Any], dict[str, Any]], None]:
    def check(sandbox: VaultSandbox, before: dict[str, Any], out: dict[str, Any]) -> None:
        versions = sandbox.state.kv["payments/db"]
        assert len(versions) == 2
        assert versions[1].data["username"] == "app"  # fields not rotated are kept
        new = out["new_values"]["secret/payments/db"]
        assert versions[1].data["password"] == new["password"] != "example-old"
        assert versions[0].destroyed is destroyed

    return check


MUTATING = [
    Case("token-revoke", "vault.token.revoke", {"accessor": LEAKED}, _revoked,
         ["update auth/token/revoke-accessor"]),
    Case("token-revoke-orphan", "vault.token.revoke",
         lambda sb: {"accessor": LEAKED, "children": "orphan", "token": sb.tokens["leaked"].id},
         _orphaned, ["update auth/token/revoke-orphan"]),
    Case("secret-id", "vault.approle.destroy_secret_id",
         {"role": "payments", "secret_id_accessor": SID1}, _one_secret_id,
         ["update auth/approle/role/payments/secret-id-accessor/destroy"]),
    Case("secret-id-all", "vault.approle.destroy_secret_id", {"role": "payments", "all": True},
         _no_secret_id, ["update auth/approle/role/payments/secret-id-accessor/destroy"] * 2),
    Case("role-id", "vault.approle.rotate_role_id", {"role": "payments"}, _role_id,
         ["update auth/approle/role/payments/role-id"]),
    Case("revoke-prefix", "vault.lease.revoke_prefix", {"prefix": "aws/creds/deploy"}, _prefix,
         ["update sys/leases/revoke-prefix/aws/creds/deploy"]),
    Case("lease", "vault.lease.revoke", {"lease_id": "aws/creds/deploy/leaseEXAMPLE02"},
         _lease, ["update sys/leases/revoke"]),
    Case("rotate-root", "vault.database.rotate_root", {"connection": "payments-db"}, _root,
         ["update database/rotate-root/payments-db"]),
    Case("rotate-role", "vault.database.rotate_role", {"role": "payments-static"}, _static,
         ["update database/rotate-role/payments-static"]),
    Case("kv", "vault.kv.rotate", {"path": "payments/db", "fields": "password"}, _kv(False),
         ["read secret/data/payments/db", "update secret/data/payments/db"]),
    Case("kv-destroy", "vault.kv.rotate",
         {"path": "secret/payments/db", "fields": ["password"], "destroy_old": True},
         _kv(True), ["read secret/data/payments/db", "update secret/data/payments/db",
                     "update secret/destroy/payments/db"]),
]
