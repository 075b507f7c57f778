"""What every AWS action shares: params, target resolution helpers, drift checks, and
running many targets concurrently with each target's intent and outcome journaled.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from rescind.actions.base import ActionContext, Change, Plan, Risk
from rescind.errors import ActionError

if TYPE_CHECKING:
    from rescind.providers.aws import AwsProvider

T = TypeVar("T")
R = TypeVar("R")

ACCESS_KEY_PATTERN = r"^(AKIA|ASIA)[A-Z0-9]{16}$"
LINGERING_AWS = ("AWS temporary credentials (STS sessions) obtained before this change can "
                 "stay valid for up to 36 hours unless the sessions are revoked "
                 "(aws.iam.revoke_sessions)")
# Order in which failure kinds are reported when several targets fail: the one whose
# fix unblocks the others first.
_KIND_ORDER = ("expired", "config", "permission", "network", "throttled", "not-found",
               "conflict", "refused", "error")


def as_list(value: Any) -> Any:
    """Accept a list, a JSON list in a string, or a comma/space separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                return value
        return [v for v in text.replace(",", " ").split() if v]
    return value


StrList = Annotated[list[str], BeforeValidator(as_list)]


class AwsParams(BaseModel):
    """Parameters every AWS action accepts."""

    model_config = ConfigDict(extra="forbid")

    account: str | None = Field(
        default=None, pattern=r"^\d{12}$",
        description="AWS account id to act in. Default: the account of rescind's own "
                    "credentials; another account needs an aws_assume_roles entry.")
    max_targets: int | None = Field(
        default=None, ge=1,
        description="Allow this many targets in one step (the default limit is 20). Set "
                    "by the step's max_targets.")


def aws(ctx: ActionContext) -> AwsProvider:
    """The incident's AWS provider."""
    provider: AwsProvider = ctx.provider("aws")
    return provider


def max_targets(ctx: ActionContext, params: AwsParams) -> int | None:
    if params.max_targets is not None:
        return params.max_targets
    value = ctx.settings.get("max_targets")
    return int(value) if value is not None else None


def break_glass(ctx: ActionContext) -> list[str]:
    value = ctx.settings.get("break_glass") or []
    return [str(v) for v in as_list(value)]


def iam_name(value: str, kind: str) -> str:
    """A user or role name from a name or an ARN (``arn:aws:iam::1:role/path/name``)."""
    value = value.strip()
    if value.startswith("arn:"):
        resource = value.split(":", 5)[-1]
        prefix, _, rest = resource.partition("/")
        if prefix != kind or not rest:
            raise ActionError(f"{value} is not an IAM {kind} ARN", retryable=False,
                              fix=f"give the {kind} name or its arn:aws:iam::ACCOUNT:{kind}/NAME")
        return rest.rsplit("/", 1)[-1]
    return value


def arn(account: str, kind: str, name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


def escalated_risk(base: Risk, count: int, cap: int = 20) -> Risk:
    """A plan with more than ``cap`` targets needs two-person approval (critical)."""
    return Risk.CRITICAL if count > cap else base


def plan_changes(targets: Mapping[str, Mapping[str, Any]], field_name: str) -> list[Change]:
    """Change records for every target whose before differs from its after."""
    return [Change(target=tid, field=field_name, before=t["before"], after=t["after"])
            for tid, t in targets.items() if t["before"] != t["after"]]


async def bounded(items: Iterable[T], fn: Callable[[T], Awaitable[R]], limit: int) -> list[R]:
    """``fn`` over ``items`` with at most ``limit`` running at once; results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with semaphore:
            return await fn(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


def drift(planned: Mapping[str, Mapping[str, Any]], current: Mapping[str, Any], *,
          what: str) -> list[str]:
    """Targets still in their planned ``before`` state, in plan order.

    A target already in its ``after`` state needs nothing; one that is gone raises
    kind "not-found"; one in any other state raises "conflict" (re-plan and
    re-approve). Targets whose plan changes nothing are ignored.
    """
    todo: list[str] = []
    for tid, target in planned.items():
        before, after = target["before"], target["after"]
        if before == after:
            continue
        if tid not in current:
            raise ActionError(f"{what} {tid} no longer exists: it changed since the plan",
                              kind="not-found", retryable=False,
                              fix="retry to re-plan against what exists now, or skip")
        now = current[tid]
        if now == before:
            todo.append(tid)
        elif now != after:
            raise ActionError(
                f"{what} {tid} changed since the plan (planned from {before!r}, now {now!r})",
                kind="conflict", fix="retry to re-plan and approve the new plan")
    return todo


@dataclass
class TargetCall:
    """One mutating call on one target: ``fn`` is blocking and raises ActionError."""

    target: str
    operation: str
    fn: Callable[[], Any]
    detail: dict[str, Any] = field(default_factory=dict)


def combine_failures(failures: Sequence[tuple[str, ActionError]], total: int,
                     verb: str) -> ActionError:
    """One ActionError for a step where some targets failed, led by the most urgent kind."""
    ranked = sorted(failures, key=lambda f: _KIND_ORDER.index(f[1].kind)
                    if f[1].kind in _KIND_ORDER else len(_KIND_ORDER))
    first = ranked[0][1]
    if total == 1 and len(failures) == 1:
        return first
    shown = "; ".join(f"{tid}: {err.message}" for tid, err in ranked[:3])
    more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
    return ActionError(f"{len(failures)} of {total} {verb} failed: {shown}{more}",
                       kind=first.kind, fix=first.fix,
                       retryable=all(err.retryable for _, err in failures))


async def run_targets(ctx: ActionContext, action: str, calls: Sequence[TargetCall], *,
                      verb: str, provider: Any = None) -> list[str]:
    """Run ``calls`` concurrently (as wide as the provider), journaling each target.

    Each target gets an ``action.target`` entry with stage "intent" before its call
    and stage "outcome" after; failures do not stop the other targets. Returns the
    targets that succeeded; raises one combined ActionError if any failed.
    ``provider`` (default: AWS) offers ``run``, ``translate_error`` and ``width``.
    """
    provider = provider or aws(ctx)
    done: list[str] = []
    failures: list[tuple[str, ActionError]] = []
    total = len(calls)
    finished = 0

    async def one(call: TargetCall) -> None:
        nonlocal finished
        base = {"action": action, "target": call.target, "operation": call.operation,
                **call.detail}
        ctx.journal("action.target", {**base, "stage": "intent"})
        try:
            await provider.run(call.fn)
        except Exception as exc:
            error = exc if isinstance(exc, ActionError) else provider.translate_error(exc)
            failures.append((call.target, error))
            ctx.journal("action.target", {**base, "stage": "outcome", "ok": False,
                                          "kind": error.kind, "error": error.message})
        else:
            done.append(call.target)
            ctx.journal("action.target", {**base, "stage": "outcome", "ok": True})
        finished += 1
        ctx.progress(finished, total, verb)

    await bounded(calls, one, provider.width)
    if failures:
        raise combine_failures(failures, total, verb)
    return done


def plan_for(action_cls: Any, params: BaseModel, step_id: str, *, targets: list[str],
             changes: list[Change], state: dict[str, Any], summary: str,
             warnings: Sequence[str] = (), risk: Risk | None = None) -> Plan:
    """A Plan with the action's class-level facts filled in."""
    return Plan(action=action_cls.name, step_id=step_id, params=params.model_dump(mode="json"),
                targets=targets, changes=changes, warnings=list(warnings),
                risk=risk or action_cls.risk, reversible=action_cls.reversible,
                mutating=action_cls.mutating, summary=summary, state=state)


def plural(count: int, word: str) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"
