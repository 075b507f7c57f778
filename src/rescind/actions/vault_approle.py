"""AppRole (seed: "Breach response → revoke AppRole"): describe a role, destroy leaked
secret ids by accessor, and rotate the role id when it leaked too."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.base import ActionContext, Change, Plan, Result, Risk, Verification
from rescind.actions.common import (
    StrList,
    TargetCall,
    bounded,
    drift,
    one_or_many,
    plan_for,
    plural,
    run_targets,
)
from rescind.actions.registry import register
from rescind.actions.vault_common import (
    LEASES_OUTLIVE,
    TOKENS_OUTLIVE,
    VaultAction,
    VaultParams,
    gone_or,
    vault,
)
from rescind.errors import ActionError
from rescind.providers.vault import VaultProvider

NAME = r"^[A-Za-z0-9._-]{1,128}$"
PRESENT, DESTROYED = "present", "destroyed"


class RoleParams(VaultParams):
    role: str = Field(pattern=NAME, description="The AppRole role's name")
    mount: str = Field(default="approle", pattern=r"^[A-Za-z0-9._/-]{1,128}$",
                       description="The AppRole auth mount (default approle)")

    def base(self) -> str:
        return f"auth/{self.mount.strip('/')}/role/{self.role}"


def _secret_id(provider: VaultProvider, base: str, accessor: str) -> dict[str, Any] | None:
    return gone_or(lambda: provider.write(f"{base}/secret-id-accessor/lookup",
                                          {"secret_id_accessor": accessor}))


async def _secret_ids(provider: VaultProvider, base: str,
                      accessors: list[str]) -> dict[str, dict[str, Any] | None]:
    async def one(accessor: str) -> tuple[str, dict[str, Any] | None]:
        return accessor, await provider.run(_secret_id, provider, base, accessor)

    return dict(await bounded(accessors, one, provider.width))


def _read_role(provider: VaultProvider, base: str, role: str) -> dict[str, Any]:
    data = gone_or(lambda: provider.read(base))
    if data is None:
        raise ActionError(f"AppRole role {role} does not exist", kind="not-found",
                          retryable=False, fix="check the role name (`vault list "
                                               "auth/approle/role`) and the mount")
    return data


@register
class DescribeRole(VaultAction):
    name = "vault.approle.describe"
    description = ("An AppRole role: its token policies and TTLs, and every secret id with "
                   "its accessor, creation, expiry and metadata (read-only)")
    params_model = RoleParams
    risk = Risk.LOW
    reversible = False
    mutating = False
    outputs: ClassVar[tuple[str, ...]] = ("role", "policies", "token_ttl", "secret_id_accessors",
                                          "secret_ids", "count")
    permissions: ClassVar[tuple[str, ...]] = (
        "read auth/approle/role/+", "list auth/approle/role/+/secret-id",
        "update auth/approle/role/+/secret-id-accessor/lookup")

    async def plan(self, ctx: ActionContext, params: RoleParams, step_id: str) -> Plan:
        provider = vault(ctx)
        role = await provider.run(_read_role, provider, params.base(), params.role)
        accessors = await provider.run(provider.list_keys, f"{params.base()}/secret-id")
        found = await _secret_ids(provider, params.base(), accessors)
        secret_ids = [{"accessor": a, "created": (d or {}).get("creation_time"),
                       "expires": (d or {}).get("expiration_time"),
                       "metadata": (d or {}).get("metadata") or {},
                       "cidr_list": (d or {}).get("cidr_list") or []}
                      for a, d in found.items() if d is not None]
        facts: dict[str, Any] = {
                 "role": params.role, "policies": list(role.get("token_policies") or []),
                 "token_ttl": int(role.get("token_ttl") or 0),
                 "secret_id_accessors": [s["accessor"] for s in secret_ids],
                 "secret_ids": secret_ids, "count": len(secret_ids)}
        warnings = [] if role.get("secret_id_bound_cidrs") or role.get("token_bound_cidrs") else [
            "The role binds no CIDR: its secret ids work from anywhere"]
        summary = (f"AppRole {params.role}: policies {', '.join(facts['policies']) or '-'}; "
                   f"{plural(len(secret_ids), 'secret id')}")
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(mode="json"),
                    risk=self.risk, reversible=False, mutating=False, summary=summary,
                    warnings=warnings, state=facts)

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        return Result(outputs={k: plan.state.get(k) for k in self.outputs},
                      details=[plan.summary, *plan.warnings])


class DestroyParams(RoleParams):
    secret_id_accessor: str | None = Field(default=None, description="Accessor of the leaked "
                                           "secret id")
    secret_id_accessors: StrList = Field(default_factory=list, description="Several accessors")
    all: bool = Field(default=False, description="Every secret id of the role (critical)")

    @model_validator(mode="after")
    def _some(self) -> DestroyParams:
        if self.all == bool(self.targets()):
            raise ValueError("give secret_id_accessor(s), or all: true (not both)")
        return self

    def targets(self) -> list[str]:
        return one_or_many(self.secret_id_accessor, self.secret_id_accessors)


@register
class DestroySecretId(VaultAction):
    name = "vault.approle.destroy_secret_id"
    description = ("Destroy an AppRole role's secret ids by accessor (all: true destroys every "
                   "one, critical); tokens already issued keep working until they expire")
    params_model = DestroyParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    outputs: ClassVar[tuple[str, ...]] = ("role", "secret_id_accessors")
    permissions: ClassVar[tuple[str, ...]] = (
        "list auth/approle/role/+/secret-id",
        "update auth/approle/role/+/secret-id-accessor/lookup",
        "update auth/approle/role/+/secret-id-accessor/destroy")

    async def plan(self, ctx: ActionContext, params: DestroyParams, step_id: str) -> Plan:
        provider = vault(ctx)
        base = params.base()
        listed = await provider.run(provider.list_keys, f"{base}/secret-id")
        accessors = listed if params.all else params.targets()
        await provider.run(provider.check_roles, [params.role], count=len(accessors),
                           max_targets=params.max_targets)
        found = await _secret_ids(provider, base, accessors)
        missing = [a for a, d in found.items() if d is None]
        if missing:
            raise ActionError(f"role {params.role} has no secret id with accessor {missing[0]}",
                              kind="not-found", retryable=False,
                              fix="check the accessor (`vault list auth/approle/role/"
                                  f"{params.role}/secret-id`); one already destroyed needs "
                                  "no step (skip)")
        targets = {a: {"before": PRESENT, "after": DESTROYED,
                       "created": (d or {}).get("creation_time")} for a, d in found.items()}
        changes = [Change(target=a, field="secret id", before=PRESENT, after=DESTROYED)
                   for a in targets]
        warnings = [TOKENS_OUTLIVE, LEASES_OUTLIVE]
        if params.all:
            warnings.insert(0, f"Every service logging in with role {params.role} fails until "
                               "it is given a new secret id")
        return plan_for(type(self), params, step_id, targets=list(targets), changes=changes,
                        state={"targets": targets}, warnings=warnings,
                        risk=Risk.CRITICAL if params.all or len(targets) > 20 else self.risk,
                        summary=f"Destroy {plural(len(targets), 'secret id')} of AppRole "
                                f"{params.role}" + (" (all of them)" if params.all else ""))

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = vault(ctx)
        params = DestroyParams.model_validate(plan.params)
        base = params.base()
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        now = await _secret_ids(provider, base, list(targets))
        todo = drift(targets, {a: PRESENT if d else DESTROYED for a, d in now.items()},
                     what="secret id")

        def destroy(accessor: str) -> TargetCall:
            return TargetCall(target=accessor,
                              operation=f"update {base}/secret-id-accessor/destroy",
                              fn=lambda: provider.write(f"{base}/secret-id-accessor/destroy",
                                                        {"secret_id_accessor": accessor}))

        done = await run_targets(ctx, vault(ctx), self.name, [destroy(a) for a in todo],
                                       verb="secret id destructions")
        return Result(outputs={"role": params.role, "secret_id_accessors": list(targets)},
                      details=[f"{a}: destroyed" for a in done])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = vault(ctx)
        params = DestroyParams.model_validate(plan.params)
        now = await _secret_ids(provider, params.base(), list(plan.state["targets"]))
        left = [a for a, d in now.items() if d is not None]
        if left:
            return Verification(ok=False, detail=f"still present: {', '.join(left)}")
        return Verification(ok=True, detail=f"{plural(len(now), 'secret id')} destroyed")


def _fingerprint(role_id: str) -> str:
    """Enough to tell two role ids apart without keeping either in the record."""
    return "sha256:" + hashlib.sha256(role_id.encode()).hexdigest()[:16]


def _role_id(provider: VaultProvider, base: str) -> str:
    return str(provider.read(f"{base}/role-id").get("role_id", ""))


@register
class RotateRoleId(VaultAction):
    name = "vault.approle.rotate_role_id"
    description = ("Give an AppRole role a new random role id, when the role id leaked too; "
                   "shown once, never journaled")
    params_model = RoleParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    outputs: ClassVar[tuple[str, ...]] = ("role", "role_id")
    secret_outputs: ClassVar[tuple[str, ...]] = ("role_id",)
    permissions: ClassVar[tuple[str, ...]] = (
        "read auth/approle/role/+/role-id", "update auth/approle/role/+/role-id")

    async def plan(self, ctx: ActionContext, params: RoleParams, step_id: str) -> Plan:
        provider = vault(ctx)
        await provider.run(provider.check_roles, [params.role], count=1,
                           max_targets=params.max_targets)
        current = await provider.run(_role_id, provider, params.base())
        before = _fingerprint(current)
        return plan_for(type(self), params, step_id, targets=[params.role],
                        changes=[Change(target=params.role, field="role id", before=before,
                                        after="a new random role id")],
                        state={"before": before},
                        warnings=["Every service logging in with this role needs the new role "
                                  "id (shown once when the step is done)", TOKENS_OUTLIVE],
                        summary=f"Rotate the role id of AppRole {params.role}")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = vault(ctx)
        params = RoleParams.model_validate(plan.params)
        base = params.base()
        now = _fingerprint(await provider.run(_role_id, provider, base))
        if now != plan.state["before"]:
            raise ActionError(f"the role id of {params.role} changed since the plan",
                              kind="conflict", fix="retry to re-plan and approve the new plan")
        new = str(uuid.uuid4())
        await run_targets(ctx, vault(ctx), self.name, [TargetCall(
            target=params.role, operation=f"update {base}/role-id",
            fn=lambda: provider.write(f"{base}/role-id", {"role_id": new}))],
            verb="role id rotations")
        return Result(outputs={"role": params.role, "role_id": new},
                      details=[f"{params.role}: new role id set (fingerprint "
                               f"{_fingerprint(new)})"])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = vault(ctx)
        params = RoleParams.model_validate(plan.params)
        now = _fingerprint(await provider.run(_role_id, provider, params.base()))
        if now == plan.state["before"]:
            return Verification(ok=False, detail="the role id is still the leaked one")
        expected = (result.outputs.get("role_id") if result else None) or ""
        if expected and now != _fingerprint(str(expected)):
            return Verification(ok=False, detail="the role id is neither the old nor the new one")
        return Verification(ok=True, detail=f"role id of {params.role} replaced ({now})")
