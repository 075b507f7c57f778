"""Service accounts and their keys: describe, disable (undo: enable), disable and delete keys.

The seed's procedure: ``gcloud iam service-accounts disable``, then ``keys list`` and
``keys delete``. System-managed keys (Google's own, rotated by Google) can be neither
disabled nor deleted: they are listed as such and left alone.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.base import Action, ActionContext, Plan, Result, Risk, Verification
from rescind.actions.common import (
    OneOrMany,
    StrList,
    TargetCall,
    bounded,
    drift,
    escalated_risk,
    one_or_many,
    plan_changes,
    plan_for,
    plural,
    run_targets,
)
from rescind.actions.gcp_common import (
    LINGERING_GCP,
    GcpParams,
    account_name,
    break_glass,
    gcp,
    max_targets,
    sa_email,
)
from rescind.actions.registry import register
from rescind.errors import ActionError, ErrorKind
from rescind.providers.gcp import GcpProvider

USER, SYSTEM = "USER_MANAGED", "SYSTEM_MANAGED"
ENABLED, DISABLED, DELETED = "enabled", "disabled", "deleted"


class AccountParams(GcpParams, OneOrMany):
    pair = ("service_account", "service_accounts")
    service_account: str | None = Field(default=None, description="The service account's "
                                        "email (NAME@PROJECT.iam.gserviceaccount.com)")
    service_accounts: StrList = Field(default_factory=list,
                                      description="Several service accounts (a list, or a "
                                                  "comma separated string)")

    def emails(self) -> list[str]:
        """The accounts as emails; a malformed one is an ActionError naming the fix."""
        return list(dict.fromkeys(sa_email(e) for e in self.given()))


async def read_account(provider: GcpProvider, email: str) -> dict[str, Any]:
    return await provider.run(provider.iam_call, "get_service_account",
                              {"name": account_name(email)},
                              permission="iam.serviceAccounts.get", resource=email)


async def read_keys(provider: GcpProvider, email: str) -> list[dict[str, Any]]:
    """Every key of ``email``, user- and system-managed: id, type, dates, disabled."""
    found = await provider.run(provider.iam_list, "list_service_account_keys",
                               {"name": account_name(email)}, "keys",
                               permission="iam.serviceAccountKeys.list", resource=email)
    return [{"id": str(k["name"]).rsplit("/", 1)[-1], "account": email,
             "type": str(k.get("key_type") or USER),
             "created": k.get("valid_after_time"),
             "expires": (None if str(k.get("valid_before_time", "")).startswith("9999")
                         else k.get("valid_before_time")),
             "disabled": bool(k.get("disabled")), "user_managed": k.get("key_type") != SYSTEM}
            for k in found]


def _project_roles(policy: dict[str, Any], member: str) -> list[dict[str, Any]]:
    return [{"role": b["role"], **({"condition": b["condition"].get("title")
                                     or b["condition"].get("expression")}
                                    if b.get("condition") else {})}
            for b in policy.get("bindings", []) if member in b.get("members", [])]


class DescribeParams(GcpParams):
    service_account: str = Field(description="The service account's email")


@register
class DescribeServiceAccount(Action[DescribeParams]):
    name = "gcp.sa.describe"
    description = ("Read a service account: disabled or not, its keys (type, creation, "
                   "expiry), project bindings that name it, who may act as it")
    params_model = DescribeParams
    risk = Risk.LOW
    reversible = False
    mutating = False
    providers = ("gcp",)
    outputs: ClassVar[tuple[str, ...]] = (
        "email", "disabled", "keys", "key_ids", "user_managed_keys", "system_managed_keys",
        "project_roles", "owner", "acting_as")
    permissions: ClassVar[tuple[str, ...]] = (
        "iam.serviceAccounts.get", "iam.serviceAccountKeys.list",
        "iam.serviceAccounts.getIamPolicy", "resourcemanager.projects.getIamPolicy")

    async def plan(self, ctx: ActionContext, params: DescribeParams, step_id: str) -> Plan:
        email = sa_email(params.service_account)
        project = gcp(ctx).project(params.project)
        return plan_for(type(self), params, step_id, targets=[], changes=[],
                        state={"email": email, "project": project},
                        summary=f"Read service account {email} and project {project}'s "
                                "bindings")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = gcp(ctx)
        email, project = plan.state["email"], plan.state["project"]
        account = await read_account(provider, email)
        keys = await read_keys(provider, email)
        policy = await provider.run(provider.project_policy, project)
        own = await provider.run(provider.iam_call, "get_iam_policy",
                                 {"resource": account_name(email)},
                                 permission="iam.serviceAccounts.getIamPolicy", resource=email)
        roles = _project_roles(policy, f"serviceAccount:{email}")
        acting = [f"{m} ({b['role']})" for b in own.get("bindings", [])
                  for m in b.get("members", [])]
        user = [k["id"] for k in keys if k["user_managed"]]
        system = [k["id"] for k in keys if not k["user_managed"]]
        details = [f"{email}: {'disabled' if account.get('disabled') else 'enabled'}; "
                   f"{plural(len(user), 'user-managed key')}, {len(system)} system-managed; "
                   f"{plural(len(roles), 'project binding')}"]
        details += [f"key {k['id']}: {k['type']}, created {k['created']}, expires "
                    f"{k['expires'] or 'never'}, {'disabled' if k['disabled'] else 'enabled'}"
                    for k in keys]
        return Result(outputs={
            "email": email, "disabled": bool(account.get("disabled")), "keys": keys,
            "key_ids": [k["id"] for k in keys], "user_managed_keys": user,
            "system_managed_keys": system, "project_roles": roles,
            "owner": any(r["role"] in ("roles/owner", "roles/editor") for r in roles),
            "acting_as": acting}, details=details)


@register
class DisableServiceAccount(Action[AccountParams]):
    name = "gcp.sa.disable"
    description = "Disable service accounts (DisableServiceAccount); undo enables them again"
    params_model = AccountParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True
    providers = ("gcp",)
    outputs: ClassVar[tuple[str, ...]] = ("service_accounts",)
    permissions: ClassVar[tuple[str, ...]] = (
        "iam.serviceAccounts.get", "iam.serviceAccounts.disable", "iam.serviceAccounts.enable")

    async def plan(self, ctx: ActionContext, params: AccountParams, step_id: str) -> Plan:
        provider = gcp(ctx)
        emails = params.emails()
        await provider.run(provider.check_targets, accounts=emails,
                           break_glass=break_glass(ctx), max_targets=max_targets(ctx, params))
        accounts = await bounded(emails, lambda e: read_account(provider, e), provider.width)
        targets = {e: {"before": DISABLED if a.get("disabled") else ENABLED,
                       "after": DISABLED} for e, a in zip(emails, accounts, strict=True)}
        changes = plan_changes(targets, "state")
        changing = [c.target for c in changes]
        summary = (f"Disable {plural(len(changing), 'service account')}: "
                   f"{', '.join(changing[:3])}" if changing else
                   "Nothing to do: the service accounts are already disabled")
        plan = plan_for(type(self), params, step_id, targets=changing, changes=changes,
                        state={"targets": targets}, summary=summary,
                        warnings=[LINGERING_GCP, "Every workload running as these accounts "
                                  "stops authenticating, including through their keys and "
                                  "workload identity federation"],
                        risk=escalated_risk(self.risk, len(changing)))
        return plan.model_copy(update={"outputs": {"service_accounts": emails}})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        return await _set_accounts(self.name, ctx, plan, disable=True)

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = gcp(ctx)
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        states = await bounded(list(targets), lambda e: read_account(provider, e),
                               provider.width)
        wrong = [e for e, a in zip(targets, states, strict=True) if not a.get("disabled")]
        if wrong:
            return Verification(ok=False, detail=f"still enabled: {', '.join(wrong[:5])}")
        return Verification(ok=True, detail=f"{plural(len(targets), 'service account')} read "
                                            "back disabled")

    async def undo(self, ctx: ActionContext, plan: Plan, result: Result) -> Result:
        return await _set_accounts(self.name, ctx, plan, disable=False, result=result)


async def _set_accounts(name: str, ctx: ActionContext, plan: Plan, *, disable: bool,
                        result: Result | None = None) -> Result:
    provider = gcp(ctx)
    targets: dict[str, dict[str, Any]] = plan.state["targets"]
    if disable:
        # Disabling is idempotent: nothing changed since the plan can make it do more
        # than planned, so containment does not wait for a re-read (verify reads back).
        todo = [e for e, t in targets.items() if t["before"] != t["after"]]
    else:
        todo = list(((result.undo or {}) if result else {}).get("service_accounts", []))
    method = "disable_service_account" if disable else "enable_service_account"
    permission = f"iam.serviceAccounts.{'disable' if disable else 'enable'}"

    def call(email: str) -> TargetCall:
        return TargetCall(target=email, operation=permission, detail={},
                          fn=lambda: provider.iam_call(method, {"name": account_name(email)},
                                                       permission=permission, resource=email))

    done = await run_targets(ctx, gcp(ctx), name, [call(e) for e in todo],
                             verb="disables" if disable else "re-enables")
    emails = list(targets)
    if not disable:
        return Result(outputs={"service_accounts": emails},
                      details=[f"{e}: enabled again" for e in done])
    return Result(outputs={"service_accounts": emails},
                  details=[f"{e}: enabled -> disabled" for e in done],
                  undo={"service_accounts": done})


# -- keys ------------------------------------------------------------------------------
class KeyParams(AccountParams):
    key_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}$",
                               description="The key id (40 hex digits, as `gcloud iam "
                                           "service-accounts keys list` shows)")
    key_ids: StrList = Field(default_factory=list, description="Several key ids")
    all_keys: bool = Field(default=False, description="Every user-managed key of the "
                                                      "service accounts")

    @model_validator(mode="after")
    def _selection(self) -> KeyParams:
        if self.all_keys == bool(self.ids()):
            raise ValueError("give key_id/key_ids, or all_keys: true (not both)")
        if self.ids() and len(self.given()) != 1:
            raise ValueError("key ids need exactly one service_account")
        return self

    def ids(self) -> list[str]:
        return one_or_many(self.key_id, self.key_ids)


async def _resolve_keys(provider: GcpProvider, params: KeyParams
                        ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """(user-managed key id -> key, system-managed key ids) for the selection."""
    emails = params.emails()
    listed = await bounded(emails, lambda e: read_keys(provider, e), provider.width)
    keys = {k["id"]: k for found in listed for k in found}
    wanted = params.ids() or [k for k, v in keys.items() if v["user_managed"]]
    missing = [k for k in wanted if k not in keys]
    if missing:
        raise ActionError(f"key {missing[0]} is not a key of {emails[0]}", kind=ErrorKind.NOT_FOUND,
                          retryable=False,
                          fix="check the id with `gcloud iam service-accounts keys list "
                              f"--iam-account={emails[0]}` (it may be deleted already)")
    system = [k for k in (wanted if params.ids() else keys) if not keys[k]["user_managed"]]
    return {k: keys[k] for k in wanted if keys[k]["user_managed"]}, system


async def _plan_keys(action: type[Action[Any]], ctx: ActionContext, params: KeyParams,
                     step_id: str, *, after: str) -> Plan:
    provider = gcp(ctx)
    keys, system = await _resolve_keys(provider, params)
    await provider.run(provider.check_targets, keys=[(k, v["account"]) for k, v in keys.items()],
                       break_glass=break_glass(ctx), max_targets=max_targets(ctx, params))
    targets = {k: {"account": v["account"], "created": v["created"], "expires": v["expires"],
                   "before": ctx.overlay.value(k, "state", DISABLED if v["disabled"]
                                               else ENABLED), "after": after}
               for k, v in keys.items()}
    changes = plan_changes(targets, "key" if after == DELETED else "state")
    changing = [c.target for c in changes]
    verb = "Delete" if after == DELETED else "Disable"
    summary = (f"{verb} {plural(len(changing), 'key')} of "
               f"{', '.join(dict.fromkeys(t['account'] for t in targets.values()))}"
               if changing else f"Nothing to do: the {plural(len(targets), 'key')} already "
                                "are as planned")
    warnings = [LINGERING_GCP]
    if system:
        warnings.append(f"{plural(len(system), 'system-managed key')} ({', '.join(system[:3])})"
                        " cannot be disabled or deleted: Google holds and rotates them; "
                        "disable the service account to stop them")
    if after == DELETED:
        warnings.append("Deleting a key cannot be undone; its id stays in the record and in "
                        "the audit logs (serviceAccountKeyName) for the investigation")
    plan = plan_for(action, params, step_id, targets=changing, changes=changes,
                    state={"targets": targets, "system_managed": system}, summary=summary,
                    warnings=warnings, risk=escalated_risk(action.risk, len(changing)))
    return plan.model_copy(update={"outputs": {"key_ids": list(targets),
                                               "system_managed_keys": system}})


def _key_name(key: str, account: str) -> str:
    return f"{account_name(account)}/keys/{key}"


async def _key_states(provider: GcpProvider, accounts: list[str]) -> dict[str, str]:
    found = await bounded(accounts, lambda e: _keys_or_none(provider, e), provider.width)
    return {k["id"]: DISABLED if k["disabled"] else ENABLED for keys in found for k in keys}


async def _keys_or_none(provider: GcpProvider, email: str) -> list[dict[str, Any]]:
    try:
        return await read_keys(provider, email)
    except ActionError as exc:
        if exc.kind != ErrorKind.NOT_FOUND:
            raise
        return []


async def _verify_keys(ctx: ActionContext, plan: Plan, which: str) -> Verification:
    targets: dict[str, dict[str, Any]] = plan.state["targets"]
    accounts = list(dict.fromkeys(t["account"] for t in targets.values()))
    current = await _key_states(gcp(ctx), accounts)
    wrong = [f"{k} is {current.get(k, DELETED)}" for k, t in targets.items()
             if current.get(k, DELETED) != t[which]]
    if wrong:
        return Verification(ok=False, detail="; ".join(wrong[:5]))
    return Verification(ok=True, detail=f"{plural(len(targets), 'key')} read back "
                                        f"{'as planned' if which == 'after' else 'restored'}")


@register
class DisableKey(Action[KeyParams]):
    name = "gcp.sa_key.disable"
    description = ("Disable user-managed service-account keys (DisableServiceAccountKey); "
                   "undo enables them again")
    params_model = KeyParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True
    providers = ("gcp",)
    outputs: ClassVar[tuple[str, ...]] = ("key_ids", "system_managed_keys")
    permissions: ClassVar[tuple[str, ...]] = (
        "iam.serviceAccountKeys.list", "iam.serviceAccountKeys.disable",
        "iam.serviceAccountKeys.enable")

    async def plan(self, ctx: ActionContext, params: KeyParams, step_id: str) -> Plan:
        return await _plan_keys(type(self), ctx, params, step_id, after=DISABLED)

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        return await _set_keys(self.name, ctx, plan, disable=True)

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        return await _verify_keys(ctx, plan, "after")

    async def undo(self, ctx: ActionContext, plan: Plan, result: Result) -> Result:
        return await _set_keys(self.name, ctx, plan, disable=False, result=result)


async def _set_keys(name: str, ctx: ActionContext, plan: Plan, *, disable: bool,
                    result: Result | None = None) -> Result:
    provider = gcp(ctx)
    targets: dict[str, dict[str, Any]] = plan.state["targets"]
    if disable:
        # Idempotent, like disabling an account: no re-read before containment.
        todo = [k for k, t in targets.items() if t["before"] != t["after"]]
    else:
        todo = list(((result.undo or {}) if result else {}).get("keys", []))
    verb = "disable" if disable else "enable"
    permission = f"iam.serviceAccountKeys.{verb}"

    def call(key: str) -> TargetCall:
        account = targets[key]["account"]
        return TargetCall(target=key, operation=permission, detail={"account": account},
                          fn=lambda: provider.iam_call(f"{verb}_service_account_key",
                                                       {"name": _key_name(key, account)},
                                                       permission=permission,
                                                       resource=f"key {key} of {account}"))

    done = await run_targets(ctx, gcp(ctx), name, [call(k) for k in todo],
                             verb="key disables" if disable else "key re-enables")
    outputs = {"key_ids": list(targets),
               "system_managed_keys": list(plan.state.get("system_managed", []))}
    if not disable:
        return Result(outputs=outputs, details=[f"{k}: enabled again" for k in done])
    return Result(outputs=outputs, details=[f"{k} ({targets[k]['account']}): disabled"
                                            for k in done], undo={"keys": done})


class DeleteKeyParams(KeyParams):
    force: bool = Field(default=False, description="Also delete keys that are still enabled "
                                                   "(normally only disabled keys are deleted)")


@register
class DeleteKey(Action[DeleteKeyParams]):
    name = "gcp.sa_key.delete"
    description = ("Delete user-managed service-account keys (DeleteServiceAccountKey); only "
                   "disabled ones unless force")
    params_model = DeleteKeyParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    providers = ("gcp",)
    outputs: ClassVar[tuple[str, ...]] = ("key_ids", "system_managed_keys")
    permissions: ClassVar[tuple[str, ...]] = (
        "iam.serviceAccountKeys.list", "iam.serviceAccountKeys.delete")

    async def plan(self, ctx: ActionContext, params: DeleteKeyParams, step_id: str) -> Plan:
        plan = await _plan_keys(type(self), ctx, params, step_id, after=DELETED)
        enabled = [k for k, t in plan.state["targets"].items() if t["before"] == ENABLED]
        if enabled and not params.force:
            raise ActionError(f"{', '.join(enabled[:3])} {'is' if len(enabled) == 1 else 'are'}"
                              " still enabled: refusing to delete an enabled key",
                              kind=ErrorKind.REFUSED, retryable=False,
                              fix="disable it first (gcp.sa_key.disable), or set force: true")
        return plan

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = gcp(ctx)
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        accounts = list(dict.fromkeys(t["account"] for t in targets.values()))
        current = ctx.overlay.over(await _key_states(provider, accounts), "state")
        # A key gone since the plan is in its planned state already, not drift.
        todo = drift(targets, {k: current.get(k, DELETED) for k in targets}, what="key")

        def call(key: str) -> TargetCall:
            account = targets[key]["account"]
            return TargetCall(target=key, operation="iam.serviceAccountKeys.delete",
                              detail={"account": account},
                              fn=lambda: provider.iam_call(
                                  "delete_service_account_key", {"name": _key_name(key, account)},
                                  permission="iam.serviceAccountKeys.delete",
                                  resource=f"key {key} of {account}"))

        done = await run_targets(ctx, gcp(ctx), self.name, [call(k) for k in todo],
                                 verb="key deletions")
        return Result(outputs={"key_ids": list(targets),
                               "system_managed_keys": list(plan.state["system_managed"])},
                      details=[f"{k} ({targets[k]['account']}): deleted" for k in done])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        return await _verify_keys(ctx, plan, "after")
