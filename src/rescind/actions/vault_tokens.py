"""Vault tokens, by accessor: describe one, revoke leaked ones (seed: "vault token revoke").

A token is named by its accessor, never by its id: the accessor is what the audit
log (HMAC'd), ``vault list auth/token/accessors`` and a token lookup show, and it
cannot be used to authenticate.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

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
    LEASES_OUTLIVE,
    VaultAction,
    VaultParams,
    gone_or,
    read_each,
    vault,
)
from rescind.errors import ActionError
from rescind.providers.vault import VaultProvider

ACCESSOR_PATTERN = r"^[A-Za-z0-9._-]{8,128}$"
TOKEN_OUTPUTS = ("accessor", "display_name", "policies", "ttl", "expire_time", "issue_time",
                 "orphan", "entity_id", "auth_path", "role_name", "meta")
PRESENT, REVOKED = "valid", "revoked"


class DescribeTokenParams(VaultParams):
    accessor: str = Field(pattern=ACCESSOR_PATTERN, description="The token's accessor")


def _facts(data: dict[str, Any]) -> dict[str, Any]:
    meta = data.get("meta") or {}
    return {"accessor": data.get("accessor", ""), "display_name": data.get("display_name", ""),
            "policies": list(data.get("policies") or []), "ttl": int(data.get("ttl") or 0),
            "expire_time": data.get("expire_time"), "issue_time": data.get("issue_time"),
            "orphan": bool(data.get("orphan")), "entity_id": data.get("entity_id") or "",
            "auth_path": data.get("path") or "", "role_name": meta.get("role_name") or "",
            "meta": dict(meta)}


def lookup(provider: VaultProvider, accessor: str) -> dict[str, Any] | None:
    """The token's facts, or None when Vault no longer knows the accessor."""
    data = gone_or(lambda: provider.write("auth/token/lookup-accessor", {"accessor": accessor}))
    return _facts(data) if data is not None else None


@register
class DescribeToken(VaultAction):
    name = "vault.token.describe"
    description = ("A token by accessor: policies, TTL and expiry, issue time, orphan or not, "
                   "the auth path and role that issued it (read-only)")
    params_model = DescribeTokenParams
    risk = Risk.LOW
    reversible = False
    mutating = False
    outputs: ClassVar[tuple[str, ...]] = TOKEN_OUTPUTS
    permissions: ClassVar[tuple[str, ...]] = ("update auth/token/lookup-accessor",)

    async def plan(self, ctx: ActionContext, params: DescribeTokenParams, step_id: str) -> Plan:
        provider = vault(ctx)
        facts = await provider.run(lookup, provider, params.accessor)
        if facts is None:
            raise ActionError(f"Vault knows no token with accessor {params.accessor}",
                              kind="not-found", retryable=False,
                              fix="check the accessor (it may be revoked or expired already)")
        ttl = f"expires {facts['expire_time']}" if facts["ttl"] else "never expires"
        warnings = []
        if not facts["orphan"]:
            warnings.append("The token has a parent (Vault does not say which): revoking that "
                            "parent revokes this token too")
        if not facts["ttl"]:
            warnings.append("The token has no TTL: it works until revoked")
        summary = (f"Token {facts['display_name']} ({params.accessor}): policies "
                   f"{', '.join(facts['policies'])}; issued {facts['issue_time']} by "
                   f"{facts['auth_path']}; {ttl}")
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(mode="json"),
                    risk=self.risk, reversible=False, mutating=False, summary=summary,
                    warnings=warnings, state=facts)

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        return Result(outputs={k: plan.state.get(k) for k in TOKEN_OUTPUTS},
                      details=[plan.summary, *plan.warnings])


class RevokeTokenParams(VaultParams, OneOrMany):
    pair = ("accessor", "accessors")
    accessor: str | None = Field(default=None, pattern=ACCESSOR_PATTERN,
                                 description="Accessor of the token to revoke")
    accessors: StrList = Field(default_factory=list, description="Several accessors")
    children: Literal["revoke", "orphan"] = Field(
        default="revoke", description="revoke: the token's child tokens are revoked with it "
        "(Vault's default); orphan: they become orphans and keep working (needs the token "
        "itself, as `token`)")
    token: SecretStr | None = Field(default=None, description="The leaked token itself; only "
                                    "for children: orphan (auth/token/revoke-orphan)")

    @model_validator(mode="after")
    def _orphan(self) -> RevokeTokenParams:
        if self.children == "orphan" and (self.token is None or len(self.targets()) != 1):
            raise ValueError("children: orphan needs exactly one accessor and the token itself "
                             "as `token` (Vault orphans children only by token)")
        return self


def _token_accessor(provider: VaultProvider, token: str) -> str:
    data = provider.write("auth/token/lookup", {"token": token})
    return str(data.get("accessor", ""))


@register
class RevokeToken(VaultAction):
    name = "vault.token.revoke"
    description = ("Revoke tokens by accessor, with their leases; their child tokens are "
                   "revoked too, or orphaned (children: orphan)")
    params_model = RevokeTokenParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    outputs: ClassVar[tuple[str, ...]] = ("accessors", "children")
    permissions: ClassVar[tuple[str, ...]] = (
        "read auth/token/lookup-self", "update auth/token/lookup-accessor",
        "update auth/token/revoke-accessor", "update auth/token/lookup",
        "update auth/token/revoke-orphan", "sudo auth/token/revoke-orphan")

    async def plan(self, ctx: ActionContext, params: RevokeTokenParams, step_id: str) -> Plan:
        provider = vault(ctx)
        accessors = params.targets()
        # The same instance applies the approved plan; the token never enters the plan.
        self._token = params.token.get_secret_value() if params.token else None
        await provider.run(provider.check_tokens, accessors,
                           max_targets=params.max_targets)
        found = await read_each(provider, lookup, accessors)
        missing = [a for a, f in found.items() if f is None]
        if missing:
            raise ActionError(f"Vault knows no token with accessor {missing[0]}",
                              kind="not-found", retryable=False,
                              fix="check the accessor; a token already revoked or expired "
                                  "needs no step (skip)")
        if params.token is not None:
            owner = await provider.run(_token_accessor, provider,
                                       params.token.get_secret_value())
            if owner != accessors[0]:
                raise ActionError("the token given is not the one with accessor "
                                  f"{accessors[0]}", retryable=False,
                                  fix="give the leaked token whose accessor the step names")
        targets = {a: {"name": f["display_name"], "before": PRESENT, "after": REVOKED,
                       "policies": f["policies"]} for a, f in found.items() if f is not None}
        children = ("Child tokens created by these tokens are revoked with them"
                    if params.children == "revoke" else
                    "Child tokens become orphans and KEEP WORKING until they expire")
        warnings = [children,
                    "Leases these tokens created are revoked with them (Vault revokes a "
                    "token's leases with it)", LEASES_OUTLIVE.replace(
                        "Dynamic credentials", "Dynamic credentials issued to other tokens")]
        changes = [Change(target=a, field="token", before=PRESENT, after=REVOKED)
                   for a in targets]
        plan = plan_for(type(self), params, step_id, targets=list(targets), changes=changes,
                        state={"targets": targets}, warnings=warnings,
                        summary=f"Revoke {plural(len(targets), 'token')} "
                                f"({', '.join(t['name'] + ' ' + a for a, t in targets.items())})"
                                f"; children: {params.children}")
        # The token value is a secret: the plan (journaled, signed) keeps only that it was given.
        return plan.model_copy(update={"params": {**plan.params, "token": (
            "given" if params.token else None)}})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = vault(ctx)
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        orphan = plan.params.get("children") == "orphan"
        token = self._given_token() if orphan else None
        now = await read_each(provider, lookup, list(targets))
        todo = drift(targets, {a: PRESENT if f else REVOKED for a, f in now.items()},
                     what="token")

        def revoke(accessor: str) -> TargetCall:
            if token is not None:
                return TargetCall(target=accessor, operation="update auth/token/revoke-orphan",
                                  fn=lambda: provider.write("auth/token/revoke-orphan",
                                                            {"token": token}))
            return TargetCall(target=accessor, operation="update auth/token/revoke-accessor",
                              fn=lambda: provider.write("auth/token/revoke-accessor",
                                                        {"accessor": accessor}))

        done = await run_targets(ctx, vault(ctx), self.name, [revoke(a) for a in todo],
                                       verb="revocations")
        return Result(outputs={"accessors": list(targets),
                               "children": plan.params.get("children")},
                      details=[f"{a}: revoked" for a in done])

    def _given_token(self) -> str:
        token: str | None = getattr(self, "_token", None)
        if token:
            return token
        raise ActionError("children: orphan needs the token itself, which the plan does not "
                          "keep", retryable=False,
                          fix="retry the step: planning again takes the token from its params")

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = vault(ctx)
        now = await read_each(provider, lookup, list(plan.state["targets"]))
        alive = [a for a, f in now.items() if f is not None]
        if alive:
            return Verification(ok=False, detail=f"still valid: {', '.join(alive)}")
        return Verification(ok=True, detail=f"{plural(len(now), 'token')} no longer valid")


