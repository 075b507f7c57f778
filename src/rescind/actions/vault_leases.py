"""Leases: revoke the dynamic credentials Vault issued (seed: "rotate DB + AWS creds"),
one by one or every one under a prefix such as ``aws/creds/<role>``."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from rescind.actions.base import ActionContext, Change, Plan, Result, Risk, Verification
from rescind.actions.common import (
    OneOrMany,
    StrList,
    TargetCall,
    drift,
    plan_for,
    plural,
    run_targets,
)
from rescind.actions.registry import register
from rescind.actions.vault_common import (
    VaultAction,
    VaultParams,
    gone_or,
    read_each,
    vault,
)
from rescind.providers.vault import VaultProvider

LISTED_MAX = 10_000
STS_NOTE = ("AWS credentials of type assumed_role or federation_token are STS sessions: "
            "revoking their lease cannot end them, they stay valid until their TTL; "
            "iam_user credentials are deleted")
PRESENT, REVOKED = "active", "revoked"


def leases_under(provider: VaultProvider, prefix: str) -> list[str]:
    """Every lease id under ``prefix`` (LIST sys/leases/lookup, walked depth first)."""
    found: list[str] = []
    pending = [prefix.strip("/")]
    while pending and len(found) < LISTED_MAX:
        here = pending.pop()
        for key in provider.list_keys(f"sys/leases/lookup/{here}" if here else "sys/leases/lookup"):
            full = f"{here}/{key}" if here else key
            if key.endswith("/"):
                pending.append(full.rstrip("/"))
            else:
                found.append(full)
    return sorted(found)


class PrefixParams(VaultParams):
    prefix: str = Field(pattern=r"^[A-Za-z0-9._/+-]*$",
                        description="Lease prefix, e.g. aws/creds/deploy or database/creds/app")
    whole_mount: bool = Field(default=False, description="Allow a prefix that is a whole "
                              "secrets engine mount (or the root): every lease it issued")


@register
class RevokePrefix(VaultAction):
    name = "vault.lease.revoke_prefix"
    description = ("Revoke every lease under a prefix (aws/creds/ROLE, database/creds/ROLE): "
                   "every dynamic credential Vault issued there (critical)")
    params_model = PrefixParams
    risk = Risk.CRITICAL
    reversible = False
    mutating = True
    outputs: ClassVar[tuple[str, ...]] = ("prefix", "lease_ids", "count")
    permissions: ClassVar[tuple[str, ...]] = (
        "read sys/mounts", "list sys/leases/lookup", "list sys/leases/lookup/*",
        "sudo sys/leases/lookup/*",
        "update sys/leases/revoke-prefix/*", "sudo sys/leases/revoke-prefix/*")

    async def plan(self, ctx: ActionContext, params: PrefixParams, step_id: str) -> Plan:
        provider = vault(ctx)
        prefix = params.prefix.strip("/")
        scope = await provider.run(provider.check_prefix, prefix,
                                   whole_mount=params.whole_mount)
        leases = await provider.run(leases_under, provider, prefix)
        warnings = ["Every service using a credential issued under this prefix loses it; "
                    "they get new ones from Vault", STS_NOTE]
        if scope is not None:
            where = "Vault" if scope == "root" else f"the mount {prefix}"
            warnings.insert(0, f"This revokes every lease of {where}")
        if len(leases) >= LISTED_MAX:
            warnings.append(f"More than {LISTED_MAX} leases: the list is cut, the revocation "
                            "is not")
        return plan_for(type(self), params, step_id, targets=[prefix or "/"],
                        changes=[Change(target=prefix or "/", field="leases",
                                        before=len(leases), after=0)],
                        state={"prefix": prefix, "leases": leases}, warnings=warnings,
                        summary=f"Revoke {plural(len(leases), 'lease')} under {prefix or '/'}")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = vault(ctx)
        prefix = str(plan.state["prefix"])
        await run_targets(ctx, vault(ctx), self.name, [TargetCall(
            target=prefix or "/", operation=f"update sys/leases/revoke-prefix/{prefix}",
            detail={"leases": len(plan.state["leases"])},
            fn=lambda: provider.write(f"sys/leases/revoke-prefix/{prefix}"))],
            verb="prefix revocations")
        leases = list(plan.state["leases"])
        return Result(outputs={"prefix": prefix, "lease_ids": leases, "count": len(leases)},
                      details=[f"{prefix or '/'}: {plural(len(leases), 'lease')} revoked"])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = vault(ctx)
        left = await provider.run(leases_under, provider, str(plan.state["prefix"]))
        if left:
            return Verification(ok=False, detail=f"{plural(len(left), 'lease')} left, e.g. "
                                                 f"{left[0]}")
        return Verification(ok=True, detail=f"no lease left under {plan.state['prefix'] or '/'}")


class LeaseParams(VaultParams, OneOrMany):
    pair = ("lease_id", "lease_ids")
    lease_id: str | None = Field(default=None, description="A lease id")
    lease_ids: StrList = Field(default_factory=list, description="Several lease ids")


def _lease(provider: VaultProvider, lease_id: str) -> dict[str, Any] | None:
    return gone_or(lambda: provider.write("sys/leases/lookup", {"lease_id": lease_id}))


@register
class RevokeLease(VaultAction):
    name = "vault.lease.revoke"
    description = "Revoke leases by id: the dynamic credentials they stand for stop working"
    params_model = LeaseParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    outputs: ClassVar[tuple[str, ...]] = ("lease_ids",)
    permissions: ClassVar[tuple[str, ...]] = ("update sys/leases/lookup",
                                              "update sys/leases/revoke")

    async def plan(self, ctx: ActionContext, params: LeaseParams, step_id: str) -> Plan:
        provider = vault(ctx)
        wanted = params.targets()
        provider.check_count(len(wanted), params.max_targets)
        found = await read_each(provider, _lease, wanted)
        # A lease revoked already (with its token, or expired) needs nothing: it is named, not
        # an error, so a runbook can pass every lease the audit log shows.
        gone = [lid for lid, d in found.items() if d is None]
        targets = {lid: {"before": PRESENT if d else REVOKED, "after": REVOKED,
                         "expires": (d or {}).get("expire_time")} for lid, d in found.items()}
        active = [t for t, v in targets.items() if v["before"] == PRESENT]
        warnings = [STS_NOTE]
        if gone:
            warnings.insert(0, f"Already revoked or expired: {', '.join(gone)}")
        return plan_for(type(self), params, step_id, targets=active or list(targets),
                        changes=[Change(target=t, field="lease", before=PRESENT, after=REVOKED)
                                 for t in active],
                        state={"targets": targets}, warnings=warnings,
                        summary=f"Revoke {plural(len(active), 'lease')}"
                                + (f" ({len(gone)} already gone)" if gone else ""))

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = vault(ctx)
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        now = await read_each(provider, _lease, list(targets))
        todo = drift(targets, {k: PRESENT if v else REVOKED for k, v in now.items()},
                     what="lease")

        def revoke(lease_id: str) -> TargetCall:
            return TargetCall(target=lease_id, operation="update sys/leases/revoke",
                              fn=lambda: provider.write("sys/leases/revoke",
                                                        {"lease_id": lease_id}))

        done = await run_targets(ctx, vault(ctx), self.name, [revoke(t) for t in todo],
                                       verb="lease revocations")
        return Result(outputs={"lease_ids": list(targets)},
                      details=[f"{t}: revoked" for t in done])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = vault(ctx)
        now = await read_each(provider, _lease, list(plan.state["targets"]))
        left = [k for k, v in now.items() if v is not None]
        if left:
            return Verification(ok=False, detail=f"still active: {', '.join(left)}")
        return Verification(ok=True, detail=f"{plural(len(now), 'lease')} revoked")
