"""Access keys: deactivate (reversible) and delete (irreversible), one key or many."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.aws_common import (
    ACCESS_KEY_PATTERN,
    LINGERING_AWS,
    AwsParams,
    arn,
    aws,
    break_glass,
    iam_name,
    max_targets,
)
from rescind.actions.base import Action, ActionContext, Plan, Result, Risk, Verification
from rescind.actions.common import (
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
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.providers.aws import AwsProvider
from rescind.providers.aws_guardrails import TARGET_CAP

ACTIVE, INACTIVE, DELETED = "Active", "Inactive", "deleted"


class KeyParams(AwsParams):
    access_key_id: str | None = Field(default=None, pattern=ACCESS_KEY_PATTERN,
                                      description="The access key id (AKIA...)")
    access_key_ids: StrList = Field(
        default_factory=list, description="Several access key ids (a list, or a comma "
                                          "separated string)")
    user: str | None = Field(default=None, description="The keys' IAM user (name or ARN). With "
                                                       "all_keys: every key of this user")
    all_keys: bool = Field(default=False, description="Act on every access key of `user`")

    @model_validator(mode="after")
    def _one_selection(self) -> KeyParams:
        ids = self.key_ids()
        if self.all_keys and not self.user:
            raise ValueError("all_keys needs user")
        if self.all_keys and ids:
            raise ValueError("give either all_keys with user, or access key ids, not both")
        if not self.all_keys and not ids:
            raise ValueError("give access_key_id, access_key_ids, or user with all_keys: true")
        return self

    def key_ids(self) -> list[str]:
        return one_or_many(self.access_key_id, self.access_key_ids)


async def list_keys(provider: AwsProvider, account: str | None, user: str) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = await provider.apaginate(
        "iam", "ListAccessKeys", "AccessKeyMetadata", account=account, UserName=user,
        resource=f"user {user}")
    return keys


async def resolve_keys(provider: AwsProvider, account: str | None, params: KeyParams
                       ) -> dict[str, dict[str, Any]]:
    """key id -> {user, status, created}, in the order the params name them."""
    wanted = params.key_ids()
    temporary = [k for k in wanted if k.startswith("ASIA")]
    if temporary:
        raise ActionError(
            f"{temporary[0]} is a temporary (STS) access key: IAM cannot deactivate or delete it",
            kind="error", retryable=False,
            fix="revoke the sessions of the role or user that issued it (aws.iam.revoke_sessions);"
                " the timeline shows which one")
    if params.user:
        user = iam_name(params.user, "user")
        found = {k["AccessKeyId"]: _key(k) for k in await list_keys(provider, account, user)}
        if params.all_keys:
            return found
        stray = [k for k in wanted if k not in found]
        if stray:
            raise ActionError(f"{stray[0]} is not an access key of user {user}",
                              kind="not-found", retryable=False,
                              fix="check the key id, or leave out `user` to look its owner up")
        return {k: found[k] for k in wanted}
    found = await _scan(provider, account, wanted)
    owners = await _owners(provider, account, [k for k in wanted if k not in found])
    users = list(dict.fromkeys(owners.values()))

    async def read(user: str) -> None:
        for key in await list_keys(provider, account, user):
            found.setdefault(key["AccessKeyId"], _key(key))

    await bounded(users, read, provider.width)
    missing = [k for k in wanted if k not in found]
    if missing:
        raise ActionError(f"access key {missing[0]} disappeared while it was being looked up",
                          kind="not-found", retryable=False, fix="retry to re-plan")
    return {k: found[k] for k in wanted}


def _key(meta: dict[str, Any]) -> dict[str, Any]:
    created: Any = meta.get("CreateDate")
    return {"user": meta["UserName"], "status": meta["Status"],
            "created": created.isoformat() if isinstance(created, datetime) else created}


async def _scan(provider: AwsProvider, account: str | None, keys: list[str]
                ) -> dict[str, dict[str, Any]]:
    """For a mass revocation, every key of every user, when that is the cheaper way.

    Looking a key's owner up costs a request per key, then one per owner for the
    status. When the account has no more users than there are keys, listing each
    user's keys costs fewer (one ListUsers page holds 1,000 users).
    """
    if len(keys) <= TARGET_CAP:
        return {}
    users = await provider.apaginate("iam", "ListUsers", "Users", account=account,
                                     PaginationConfig={"PageSize": 1000})
    if len(users) > len(keys):
        return {}
    wanted = set(keys)
    found: dict[str, dict[str, Any]] = {}

    async def scan(user: dict[str, Any]) -> None:
        for key in await list_keys(provider, account, user["UserName"]):
            if key["AccessKeyId"] in wanted:
                found[key["AccessKeyId"]] = _key(key)

    await bounded(users, scan, provider.width)
    return found


async def _owners(provider: AwsProvider, account: str | None, keys: list[str]) -> dict[str, str]:
    """Each key's owning user, from GetAccessKeyLastUsed."""
    owners: dict[str, str] = {}

    async def last_used(key_id: str) -> None:
        try:
            reply = await provider.acall("iam", "GetAccessKeyLastUsed", account=account,
                                         AccessKeyId=key_id, resource=key_id)
        except ActionError as exc:
            if exc.kind == "not-found":
                raise await _foreign_key(provider, account, key_id) from exc
            raise
        owners[key_id] = reply["UserName"]

    await bounded(keys, last_used, provider.width)
    return owners


async def _foreign_key(provider: AwsProvider, account: str | None, key_id: str) -> ActionError:
    """The error for a key IAM does not know: name its account if STS can tell."""
    here = await provider.run(provider.account_id, account)
    try:
        info = await provider.acall("sts", "GetAccessKeyInfo", account=account,
                                    AccessKeyId=key_id)
        owner_account = str(info.get("Account", ""))
    except ActionError:
        owner_account = ""
    if owner_account and owner_account != here:
        return ActionError(
            f"access key {key_id} belongs to account {owner_account}, not {here}",
            kind="not-found", retryable=False,
            fix=f"add an aws.assume_roles entry for {owner_account} and set "
                f"`account: \"{owner_account}\"` on the step")
    return ActionError(f"access key {key_id} does not exist in account {here}",
                       kind="not-found", retryable=False,
                       fix="check the key id (it may have been deleted already), or skip")


async def _in_keys_account(provider: AwsProvider, params: KeyParams) -> KeyParams:
    """With an organisation role, a key id alone finds its account: the step acts there
    (the plan, hence apply, records it), never asking the responder to edit the config."""
    ids = params.key_ids()
    found = {await provider.run(provider.account_of_key, key) for key in ids}
    if len(found) > 1:
        raise ActionError(f"the keys belong to {len(found)} accounts: "
                          f"{', '.join(sorted(found))}", kind="config", retryable=False,
                          fix="split the step: one per account (set `account:` on each)")
    account = found.pop()
    if account == await provider.run(provider.account_id, None):
        return params
    return params.model_copy(update={"account": account})


async def key_status(provider: AwsProvider, account: str | None, users: list[str]
                     ) -> dict[str, str]:
    """key id -> status for every key of ``users`` (a vanished user has no keys)."""
    status: dict[str, str] = {}

    async def read(user: str) -> None:
        try:
            keys = await list_keys(provider, account, user)
        except ActionError as exc:
            if exc.kind != "not-found":
                raise
            keys = []
        for key in keys:
            status[key["AccessKeyId"]] = key["Status"]

    await bounded(users, read, provider.width)
    return status


def _users(targets: dict[str, dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(t["user"] for t in targets.values()))


def _outputs(targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    users = _users(targets)
    return {"user": users[0] if len(users) == 1 else "", "users": users,
            "access_key_ids": list(targets)}


async def _plan_keys(action: type[Action[Any]], ctx: ActionContext, params: KeyParams,
                     step_id: str, *, after: str, field_name: str) -> Plan:
    provider = aws(ctx)
    if params.account is None and provider.org_role and params.key_ids():
        params = await _in_keys_account(provider, params)
    keys = await resolve_keys(provider, params.account, params)
    account = await provider.run(provider.account_id, params.account)
    await provider.run(provider.check_targets, account=params.account,
                       access_keys=[(k, v["user"]) for k, v in keys.items()],
                       break_glass=break_glass(ctx), max_targets=max_targets(ctx, params))
    targets = {k: {"user": v["user"], "created": v["created"],
                   "before": ctx.overlay.value(k, "status", v["status"]), "after": after}
               for k, v in keys.items()}
    changes = plan_changes(targets, field_name)
    changing = [c.target for c in changes]
    users = _users(targets)
    return plan_for(action, params, step_id, targets=changing, changes=changes,
                    state={"account": account, "targets": targets},
                    # Known now, so a crash that loses apply's result loses no output.
                    outputs=_outputs(targets),
                    summary=_summary(action, changing, len(targets), users),
                    warnings=_key_warnings(targets, after),
                    risk=escalated_risk(action.risk, len(changing)))


def _summary(action: type[Action[Any]], changing: list[str], total: int, users: list[str]) -> str:
    verb = "Deactivate" if action is DeactivateAccessKey else "Delete"
    owner = f" of {users[0]}" if len(users) == 1 else f" of {plural(len(users), 'user')}"
    if not changing:
        return f"Nothing to do: the {plural(total, 'access key')}{owner} already are as planned"
    shown = ", ".join(changing[:3]) + (" ..." if len(changing) > 3 else "")
    return f"{verb} {plural(len(changing), 'access key')}{owner}: {shown}"


def _key_warnings(targets: dict[str, dict[str, Any]], after: str) -> list[str]:
    warnings = [LINGERING_AWS]
    active = [k for k, t in targets.items() if t["before"] == ACTIVE]
    if active:
        warnings.append("Anything still using " + ", ".join(active[:3])
                        + (" ..." if len(active) > 3 else "") + " stops working now")
    if after == DELETED:
        warnings.append("Deleting a key cannot be undone; the key id stays in the record and "
                        "in CloudTrail for the investigation")
    return warnings


@register
class DeactivateAccessKey(Action[KeyParams]):
    name = "aws.iam.deactivate_access_key"
    description = "Set access keys to Inactive (UpdateAccessKey); undo makes them Active again"
    params_model = KeyParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = ("user", "users", "access_key_ids")
    permissions: ClassVar[tuple[str, ...]] = (
        "iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", "iam:ListUsers",
        "iam:UpdateAccessKey", "sts:GetCallerIdentity", "sts:GetAccessKeyInfo")

    async def plan(self, ctx: ActionContext, params: KeyParams, step_id: str) -> Plan:
        return await _plan_keys(type(self), ctx, params, step_id, after=INACTIVE,
                                field_name="status")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        return await _set_status(self.name, ctx, plan, forward=True)

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        return await _verify_status(ctx, plan, "after")

    async def undo(self, ctx: ActionContext, plan: Plan, result: Result) -> Result:
        return await _set_status(self.name, ctx, plan, forward=False, result=result)


async def _set_status(name: str, ctx: ActionContext, plan: Plan, *, forward: bool,
                      result: Result | None = None) -> Result:
    provider = aws(ctx)
    account = plan.params.get("account")
    targets: dict[str, dict[str, Any]] = plan.state["targets"]
    if forward:
        # No re-read before deactivating: setting a key Inactive is idempotent, so no
        # change made since the plan can make it do more than planned, and a key deleted
        # since fails on its own (not-found, journaled) while the others are contained.
        # Containment must not wait for 1,000 reads, nor stop for one vanished key; the
        # verify step reads every key back.
        wanted = {k: t["after"] for k, t in targets.items() if t["before"] != t["after"]}
    else:
        undo = (result.undo or {}) if result else {}
        wanted = {k: v["status"] for k, v in undo.get("access_keys", {}).items()}
    acct = plan.state.get("account", "")

    def update(key_id: str, status: str) -> TargetCall:
        user = targets[key_id]["user"]
        return TargetCall(
            target=key_id, operation="iam:UpdateAccessKey",
            detail={"user": user, "account": acct, "status": status},
            fn=lambda: provider.call("iam", "UpdateAccessKey", account=account,
                                     resource=arn(acct, "user", user), UserName=user,
                                     AccessKeyId=key_id, Status=status))

    calls = [update(k, s) for k, s in wanted.items()]
    done = await run_targets(ctx, aws(ctx), name, calls,
                             verb="deactivations" if forward else "reactivations")
    outputs = _outputs(targets)
    if not forward:
        return Result(outputs=outputs, details=[f"{k}: {wanted[k]} again" for k in done])
    changed = [k for k, t in targets.items() if t["before"] != t["after"]]
    return Result(outputs=outputs,
                  details=[f"{k} ({targets[k]['user']}): {ACTIVE} -> {INACTIVE}" for k in done],
                  undo={"access_keys": {k: {"user": targets[k]["user"],
                                            "status": targets[k]["before"]} for k in changed}})


async def _verify_status(ctx: ActionContext, plan: Plan, which: str) -> Verification:
    provider = aws(ctx)
    targets: dict[str, dict[str, Any]] = plan.state["targets"]
    current = await key_status(provider, plan.params.get("account"), _users(targets))
    wrong = [f"{k} is {current.get(k, 'gone')}" for k, t in targets.items()
             if current.get(k, DELETED) != t[which]]
    if wrong:
        return Verification(ok=False, detail="; ".join(wrong[:5]))
    return Verification(ok=True, detail=f"{plural(len(targets), 'access key')} read back "
                                         f"{'as planned' if which == 'after' else 'restored'}")


class DeleteKeyParams(KeyParams):
    force: bool = Field(default=False,
                        description="Also delete keys that are still Active (normally only "
                                    "keys already deactivated are deleted)")


@register
class DeleteAccessKey(Action[DeleteKeyParams]):
    name = "aws.iam.delete_access_key"
    description = "Delete access keys (DeleteAccessKey); only inactive ones unless force"
    params_model = DeleteKeyParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = ("user", "users", "access_key_ids")
    permissions: ClassVar[tuple[str, ...]] = (
        "iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", "iam:ListUsers",
        "iam:DeleteAccessKey", "sts:GetCallerIdentity", "sts:GetAccessKeyInfo")

    async def plan(self, ctx: ActionContext, params: DeleteKeyParams, step_id: str) -> Plan:
        plan = await _plan_keys(type(self), ctx, params, step_id, after=DELETED,
                                field_name="access key")
        active = [k for k, t in plan.state["targets"].items() if t["before"] == ACTIVE]
        if active and not params.force:
            raise ActionError(
                f"{', '.join(active[:3])} {'is' if len(active) == 1 else 'are'} still Active: "
                "refusing to delete an active key",
                kind="refused", retryable=False,
                fix="deactivate it first (aws.iam.deactivate_access_key), or set force: true")
        return plan

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = aws(ctx)
        account = plan.params.get("account")
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        current = ctx.overlay.over(await key_status(provider, account, _users(targets)),
                                   "status")
        todo = drift(targets, current, what="access key")
        acct = plan.state.get("account", "")

        def delete(key_id: str) -> TargetCall:
            user = targets[key_id]["user"]
            return TargetCall(
                target=key_id, operation="iam:DeleteAccessKey",
                detail={"user": user, "account": acct},
                fn=lambda: provider.call("iam", "DeleteAccessKey", account=account,
                                         resource=arn(acct, "user", user), UserName=user,
                                         AccessKeyId=key_id))

        done = await run_targets(ctx, aws(ctx), self.name, [delete(k) for k in todo],
                                 verb="deletions")
        return Result(outputs=_outputs(targets),
                      details=[f"{k} ({targets[k]['user']}): deleted" for k in done])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        return await _verify_status(ctx, plan, "after")
