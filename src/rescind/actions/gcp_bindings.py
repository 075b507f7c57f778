"""Cut what lets an identity in: IAM policy bindings and workload identity pool providers.

Policies are changed read-modify-write: read with policy version 3 (so conditional
bindings come back and survive the write), remove the members, and write back with
the etag as read. A policy that changed since the plan is a conflict (re-plan and
approve again), whether rescind sees it first (etag differs at apply) or Google does
(ABORTED on setIamPolicy).
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.base import Action, ActionContext, Change, Plan, Result, Risk, Verification
from rescind.actions.common import StrList, one_or_many, plan_for, plural
from rescind.actions.gcp_common import (
    LINGERING_GCP,
    OWNER_ROLES,
    GcpParams,
    break_glass,
    gcp,
    max_targets,
    member_of,
    sa_email,
)
from rescind.actions.registry import register
from rescind.errors import ActionError, ErrorKind
from rescind.providers.gcp import GcpProvider

Policy = dict[str, Any]


def _label(binding: dict[str, Any]) -> str:
    condition = binding.get("condition") or {}
    title = condition.get("title") or condition.get("expression")
    return f"{binding['role']} (if {title})" if title else str(binding["role"])


def removals(policy: Policy, members: list[str], roles: list[str]) -> list[dict[str, Any]]:
    """Each (binding, member) to remove: ``members`` (all when empty) in ``roles`` (all
    when empty). A binding is named by its role and condition, both kept in the plan."""
    found = []
    for binding in policy.get("bindings", []):
        if roles and binding["role"] not in roles:
            continue
        for member in binding.get("members", []):
            if not members or member in members:
                found.append({"role": binding["role"], "condition": binding.get("condition"),
                              "member": member})
    return found


def _same(binding: dict[str, Any], removal: dict[str, Any]) -> bool:
    return (binding["role"] == removal["role"]
            and (binding.get("condition") or None) == (removal.get("condition") or None))


def without(policy: Policy, cut: list[dict[str, Any]]) -> Policy:
    """``policy`` with the members of ``cut`` removed; bindings left empty are dropped."""
    out = copy.deepcopy(policy)
    for removal in cut:
        for binding in out.get("bindings", []):
            if _same(binding, removal) and removal["member"] in binding.get("members", []):
                binding["members"].remove(removal["member"])
    out["bindings"] = [b for b in out.get("bindings", []) if b.get("members")]
    return out


def with_added(policy: Policy, added: list[dict[str, Any]]) -> Policy:
    """``policy`` with the members of ``added`` back in their bindings (undo)."""
    out = copy.deepcopy(policy)
    for item in added:
        binding = next((b for b in out.setdefault("bindings", []) if _same(b, item)), None)
        if binding is None:
            binding = {"role": item["role"], "members": [],
                       **({"condition": item["condition"]} if item.get("condition") else {})}
            out["bindings"].append(binding)
        if item["member"] not in binding["members"]:
            binding["members"].append(item["member"])
    return out


class _PolicyAccess:
    """Read and write one resource's IAM policy through the provider."""

    def __init__(self, provider: GcpProvider, kind: str, resource: str) -> None:
        self.provider, self.kind, self.resource = provider, kind, resource

    async def read(self) -> Policy:
        if self.kind == "project":
            return await self.provider.run(self.provider.project_policy, self.resource)
        return await self.provider.run(self.provider.account_policy, self.resource)

    async def write(self, policy: Policy) -> Policy:
        if self.kind == "project":
            return await self.provider.run(self.provider.set_project_policy, self.resource,
                                           policy)
        return await self.provider.run(self.provider.set_account_policy, self.resource,
                                       policy)


class _RemoveBindings(Action[Any]):
    """Shared plan / apply / verify / undo of removing members from one IAM policy."""

    risk = Risk.HIGH
    reversible = True
    mutating = True
    providers = ("gcp",)
    outputs: ClassVar[tuple[str, ...]] = ("removed", "roles")
    what: ClassVar[str]

    def access(self, ctx: ActionContext, params: Any) -> _PolicyAccess:
        raise NotImplementedError

    def selection(self, params: Any) -> tuple[list[str], list[str]]:
        """(members, roles) to remove; empty means all."""
        raise NotImplementedError

    async def plan(self, ctx: ActionContext, params: Any, step_id: str) -> Plan:
        provider = gcp(ctx)
        access = self.access(ctx, params)
        members, roles = self.selection(params)
        accounts = [m for m in members if m.startswith("serviceAccount:")]
        await provider.run(provider.check_targets, accounts=accounts,
                           break_glass=break_glass(ctx), max_targets=max_targets(ctx, params))
        policy = await access.read()
        cut = removals(policy, members, roles)
        for item in cut:  # a removal chosen by role alone names its members now
            if item["member"].startswith("serviceAccount:"):
                await provider.run(provider.check_targets, accounts=[item["member"]],
                                   break_glass=break_glass(ctx), count=0)
        changes = [Change(target=item["member"], field=_label(item), before="bound",
                          after="removed") for item in cut]
        owners = sorted({i["role"] for i in cut if i["role"] in OWNER_ROLES})
        warnings = [LINGERING_GCP]
        if owners:
            warnings.append(f"Removes {', '.join(owners)}: a second responder must approve")
        if any(i.get("condition") for i in cut):
            warnings.append("Conditional bindings are removed with their condition; the "
                            "policy is written as version 3 so other conditions survive")
        targets = list(dict.fromkeys(i["member"] for i in cut))
        summary = (f"Remove {plural(len(cut), 'binding')} of {', '.join(targets[:3])} from "
                   f"{self.what} {access.resource}" if cut else
                   f"Nothing to do: no matching binding on {self.what} {access.resource}")
        risk = Risk.CRITICAL if owners or len(targets) > 20 else self.risk
        plan = plan_for(type(self), params, step_id, targets=targets, changes=changes,
                        state={"resource": access.resource, "etag": policy.get("etag", ""),
                               "removed": cut}, summary=summary, warnings=warnings, risk=risk)
        return plan.model_copy(update={"outputs": {
            "removed": [f"{i['member']} {_label(i)}" for i in cut],
            "roles": sorted({i["role"] for i in cut})}})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        access = self.access(ctx, self.parse_params(plan.params))
        cut: list[dict[str, Any]] = plan.state["removed"]
        if not cut:
            return Result(details=["nothing to remove"])
        policy = await access.read()
        if policy.get("etag", "") != plan.state["etag"]:
            if not removals_present(policy, cut):
                return Result(details=["the bindings were already removed"],
                              undo={"added": []})
            raise ActionError(f"the IAM policy of {self.what} {access.resource} changed since "
                              "the plan", kind=ErrorKind.CONFLICT,
                              fix="retry to re-plan against the current policy and approve "
                                  "again")
        step = {"action": self.name, "target": access.resource,
                "operation": f"{self.what}.setIamPolicy", "members": len(cut)}
        ctx.journal("action.target", {**step, "stage": "intent"})
        try:
            await access.write(without(policy, cut))
        except ActionError as exc:
            ctx.journal("action.target", {**step, "stage": "outcome", "ok": False,
                                          "kind": exc.kind, "error": exc.message})
            raise
        ctx.journal("action.target", {**step, "stage": "outcome", "ok": True})
        return Result(details=[f"removed {i['member']} from {_label(i)}" for i in cut],
                      undo={"added": cut})

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        access = self.access(ctx, self.parse_params(plan.params))
        policy = await access.read()
        left = [f"{i['member']} {_label(i)}" for i in plan.state["removed"]
                if removals_present(policy, [i])]
        if left:
            return Verification(ok=False, detail=f"still bound: {'; '.join(left[:5])}")
        return Verification(ok=True, detail=f"{plural(len(plan.state['removed']), 'binding')} "
                                            f"read back removed from {access.resource}")

    async def undo(self, ctx: ActionContext, plan: Plan, result: Result) -> Result:
        access = self.access(ctx, self.parse_params(plan.params))
        added: list[dict[str, Any]] = (result.undo or {}).get("added", [])
        policy = await access.read()  # the current etag: undo writes on top of today's policy
        await access.write(with_added(policy, added))
        return Result(details=[f"{i['member']} back in {_label(i)}" for i in added])


def removals_present(policy: Policy, cut: list[dict[str, Any]]) -> bool:
    return any(_same(b, i) and i["member"] in b.get("members", [])
               for i in cut for b in policy.get("bindings", []))


class ProjectBindingsParams(GcpParams):
    member: str | None = Field(default=None, description="Who to unbind: a service account "
                               "email, or a member (serviceAccount:, user:, group:, "
                               "principalSet://...)")
    members: StrList = Field(default_factory=list, description="Several members")
    roles: StrList = Field(default_factory=list, description="Only these roles (default: "
                                                             "every role)")

    @model_validator(mode="after")
    def _some(self) -> ProjectBindingsParams:
        if not (self.member or self.members):
            raise ValueError("give member or members")
        return self

    def member_list(self) -> list[str]:
        return list(dict.fromkeys(member_of(m) for m in one_or_many(self.member, self.members)))


@register
class RemoveProjectBindings(_RemoveBindings):
    name = "gcp.project.remove_bindings"
    description = ("Remove members from the project's IAM policy (etag read-modify-write, "
                   "version 3); critical when an owner or editor binding goes; undo adds "
                   "them back")
    params_model = ProjectBindingsParams
    what = "project"
    permissions: ClassVar[tuple[str, ...]] = (
        "resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy")

    def access(self, ctx: ActionContext, params: Any) -> _PolicyAccess:
        provider = gcp(ctx)
        return _PolicyAccess(provider, "project", provider.project(params.project))

    def selection(self, params: Any) -> tuple[list[str], list[str]]:
        return params.member_list(), list(params.roles)


class AccountBindingsParams(GcpParams):
    service_account: str = Field(description="The service account whose own IAM policy "
                                             "(who may act as it) is changed")
    members: StrList = Field(default_factory=list, description="Members to remove (default: "
                                                               "every member of `roles`)")
    roles: StrList = Field(default_factory=list, description="Roles to cut, e.g. "
                                                             "roles/iam.workloadIdentityUser")

    @model_validator(mode="after")
    def _some(self) -> AccountBindingsParams:
        if not self.members and not self.roles:
            raise ValueError("give members, roles, or both")
        return self


@register
class RemoveAccountBindings(_RemoveBindings):
    name = "gcp.sa.remove_bindings"
    description = ("Remove who may act as a service account (its own IAM policy: "
                   "workloadIdentityUser, serviceAccountUser, token creators); undo adds "
                   "them back")
    params_model = AccountBindingsParams
    what = "service account"
    permissions: ClassVar[tuple[str, ...]] = (
        "iam.serviceAccounts.getIamPolicy", "iam.serviceAccounts.setIamPolicy")

    def access(self, ctx: ActionContext, params: Any) -> _PolicyAccess:
        return _PolicyAccess(gcp(ctx), "service_account", sa_email(params.service_account))

    def selection(self, params: Any) -> tuple[list[str], list[str]]:
        return [member_of(m) for m in params.members], list(params.roles)


# -- workload identity federation ------------------------------------------------------
class PoolProviderParams(GcpParams):
    pool: str = Field(pattern=r"^[a-z0-9-]{4,32}$", description="The workload identity pool")
    provider: str = Field(pattern=r"^[a-z0-9-]{4,32}$", description="The pool's provider")
    location: str = Field(default="global", description="The pool's location")


def _provider_path(project: str, params: PoolProviderParams) -> str:
    return (f"/v1/projects/{project}/locations/{params.location}/workloadIdentityPools/"
            f"{params.pool}/providers/{params.provider}")


@register
class DisablePoolProvider(Action[PoolProviderParams]):
    name = "gcp.wif.disable_provider"
    description = ("Disable a workload identity pool provider so no external token is "
                   "exchanged through it any more; undo enables it")
    params_model = PoolProviderParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True
    providers = ("gcp",)
    outputs: ClassVar[tuple[str, ...]] = ("provider",)
    permissions: ClassVar[tuple[str, ...]] = (
        "iam.workloadIdentityPoolProviders.get", "iam.workloadIdentityPoolProviders.update")

    def _call(self, ctx: ActionContext, params: PoolProviderParams
              ) -> Callable[..., Awaitable[dict[str, Any]]]:
        provider = gcp(ctx)
        url = provider.rest_url("iam", _provider_path(provider.project(params.project), params))

        async def call(method: str, **kwargs: Any) -> dict[str, Any]:
            verb = "get" if method == "GET" else "update"
            return await provider.run(provider.rest_call, method, url,
                                      permission=f"iam.workloadIdentityPoolProviders.{verb}",
                                      resource=f"{params.pool}/{params.provider}", **kwargs)

        return call

    async def plan(self, ctx: ActionContext, params: PoolProviderParams, step_id: str) -> Plan:
        found = await self._call(ctx, params)("GET")
        before = "disabled" if found.get("disabled") else "enabled"
        name = str(found.get("name") or f"{params.pool}/{params.provider}")
        changes = [] if before == "disabled" else [
            Change(target=name, field="state", before="enabled", after="disabled")]
        plan = plan_for(type(self), params, step_id, targets=[name] if changes else [],
                        changes=changes, state={"name": name, "before": before},
                        summary=(f"Disable workload identity pool provider {name}" if changes
                                 else f"Nothing to do: {name} is already disabled"),
                        warnings=[LINGERING_GCP, "Federated tokens already exchanged stay "
                                  "valid until they expire (up to 1 hour)",
                                  "By hand: gcloud iam workload-identity-pools providers "
                                  f"update-oidc {params.provider} --workload-identity-pool="
                                  f"{params.pool} --location={params.location} --disabled"])
        return plan.model_copy(update={"outputs": {"provider": name}})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        return await self._set(ctx, plan, disabled=True)

    async def _set(self, ctx: ActionContext, plan: Plan, *, disabled: bool) -> Result:
        if plan.state["before"] == "disabled":
            return Result(outputs={"provider": plan.state["name"]}, details=["already disabled"])
        call = self._call(ctx, self.parse_params(plan.params))
        await call("PATCH", params={"updateMask": "disabled"}, body={"disabled": disabled})
        return Result(outputs={"provider": plan.state["name"]},
                      details=[f"{plan.state['name']}: {'disabled' if disabled else 'enabled'}"],
                      undo={"enable": True} if disabled else None)

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        found = await self._call(ctx, self.parse_params(plan.params))("GET")
        if not found.get("disabled"):
            return Verification(ok=False, detail=f"{plan.state['name']} is still enabled")
        return Verification(ok=True, detail=f"{plan.state['name']} read back disabled")

    async def undo(self, ctx: ActionContext, plan: Plan, result: Result) -> Result:
        return await self._set(ctx, plan, disabled=False)

