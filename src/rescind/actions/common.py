"""What actions of every cloud share: one-or-many params, drift checks, plans, and
running many targets concurrently with each target's intent and outcome journaled.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Protocol, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, model_validator

from rescind.actions.base import Action, ActionContext, Change, Plan, Risk
from rescind.errors import ActionError, ErrorKind

T = TypeVar("T")
R = TypeVar("R")

# Order in which failure kinds are reported when several targets fail: the one whose
# fix unblocks the others first.
_KIND_ORDER = (ErrorKind.EXPIRED, ErrorKind.CONFIG, ErrorKind.PERMISSION, ErrorKind.NETWORK,
               ErrorKind.THROTTLED, ErrorKind.NOT_FOUND, ErrorKind.CONFLICT, ErrorKind.REFUSED,
               ErrorKind.ERROR)


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


def one_or_many(one: str | None, many: Iterable[str]) -> list[str]:
    """The values of a ``thing`` / ``things`` parameter pair: stripped, blanks dropped,
    duplicates dropped, in the order given."""
    values = ([one] if one else []) + list(many)
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


class OneOrMany(BaseModel):
    """Params naming their targets by a ``thing`` / ``things`` pair, at least one given.

    A subclass (also of its cloud's params) sets ``pair = ("user", "users")`` and
    declares both fields; ``targets()`` are the values as written (a subclass may
    normalise them further).
    """

    pair: ClassVar[tuple[str, str]]

    @model_validator(mode="after")
    def _one_or_many(self) -> Self:
        if not self.given():
            raise ValueError(f"give {self.pair[0]} or {self.pair[1]}")
        return self

    def given(self) -> list[str]:
        return one_or_many(getattr(self, self.pair[0]), getattr(self, self.pair[1]))

    def targets(self) -> list[str]:
        return self.given()


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
    """One mutating call on one target: ``fn`` is blocking and raises ActionError, or,
    for a provider whose SDK is async, returns the awaitable that makes the call."""

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


class TargetRunner(Protocol):
    """What run_targets needs of a provider: how wide to go, how to run one blocking
    call off the event loop (an async provider's ``run`` may just call ``fn``: the
    awaitable it returns is awaited), and how to turn the provider's exceptions into
    ActionErrors."""

    width: int

    async def run(self, fn: Callable[[], T]) -> T: ...

    def translate_error(self, exc: BaseException) -> ActionError: ...


async def run_targets(ctx: ActionContext, runner: TargetRunner, action: str,
                      calls: Sequence[TargetCall], *, verb: str) -> list[str]:
    """Run ``calls`` concurrently (as wide as ``runner``), journaling each target.

    Each target gets an ``action.target`` entry with stage "intent" before its call
    and stage "outcome" after; failures do not stop the other targets. Returns the
    targets that succeeded; raises one combined ActionError if any failed.
    """
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
            outcome = await runner.run(call.fn)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:
            error = exc if isinstance(exc, ActionError) else runner.translate_error(exc)
            failures.append((call.target, error))
            ctx.journal("action.target", {**base, "stage": "outcome", "ok": False,
                                          "kind": error.kind, "error": error.message})
        else:
            done.append(call.target)
            ctx.journal("action.target", {**base, "stage": "outcome", "ok": True})
        finished += 1
        ctx.progress(finished, total, verb)

    await bounded(calls, one, runner.width)
    if failures:
        raise combine_failures(failures, total, verb)
    return done


def plan_for(action_cls: type[Action[Any]] | Action[Any], params: BaseModel, step_id: str, *,
             summary: str, targets: Sequence[str] = (), changes: Sequence[Change] = (),
             state: Mapping[str, Any] | None = None, warnings: Sequence[str] = (),
             risk: Risk | None = None, outputs: Mapping[str, Any] | None = None) -> Plan:
    """A Plan with the action's class-level facts filled in."""
    return Plan(action=action_cls.name, step_id=step_id, params=params.model_dump(mode="json"),
                targets=list(targets), changes=list(changes), warnings=list(warnings),
                risk=risk or action_cls.risk, reversible=action_cls.reversible,
                mutating=action_cls.mutating, summary=summary, state=dict(state or {}),
                outputs=dict(outputs or {}))


def plural(count: int, word: str) -> str:
    """"1 policy", "2 policies", "2,400 access keys": -y becomes -ies only after a consonant."""
    if count == 1:
        return f"{count} {word}"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return f"{count:,} {word[:-1]}ies"
    return f"{count:,} {word}s"
