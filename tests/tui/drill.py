"""A tiny test cloud and actions for driving the app through every kind of approval.

State lives in a JSON file (``STATE``) so tests read back what the cloud really
holds, not what the screen says. The actions need no provider, so the app can
start them from its own home screen without test-only settings.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from rescind.actions.base import Action, ActionContext, Change, Plan, Result, Risk, Verification
from rescind.errors import ActionError
from rescind.timeline.event import Event

RUNBOOK = Path(__file__).parent / "runbooks" / "tui-drill.yaml"
SLOW_RUNBOOK = Path(__file__).parent / "runbooks" / "tui-slow.yaml"
CRITICAL_RUNBOOK = Path(__file__).parent / "runbooks" / "tui-critical.yaml"
STATE: dict[str, Path] = {}
# Opened by a test to let drill.slow_revoke's cloud call finish.
GATE: dict[str, asyncio.Event] = {}


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(STATE["path"].read_text())
    return data


def save(data: dict[str, Any]) -> None:
    STATE["path"].write_text(json.dumps(data))


def reset(path: Path) -> None:
    STATE["path"] = path
    save({"keys": {"AKIAIOSFODNN7EXAMPLE": "Active"},
          "users": {"backup-admin": True, "deploy-bot": True},
          "pull_failures": 1, "pulls": 0, "slow_calls": 0, "sessions_revoked": False})
    GATE["open"] = asyncio.Event()


class KeyParams(BaseModel):
    key: str


class UserParams(BaseModel):
    user: str


class PullParams(BaseModel):
    key: str


class DisableKey(Action[KeyParams]):
    name = "drill.disable_key"
    description = "Deactivate a test access key (reversible)."
    params_model = KeyParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True

    async def plan(self, ctx: ActionContext, params: KeyParams, step_id: str) -> Plan:
        status = load()["keys"][params.key]
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(),
                    targets=[params.key], risk=self.risk, reversible=True, mutating=True,
                    changes=[Change(target=params.key, field="status", before=status,
                                    after="Inactive")],
                    warnings=["Sessions made with this key stay valid for up to 36 h "
                              "unless they are revoked too."],
                    summary=f"Deactivate access key {params.key}", state={"status": status})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        data = load()
        data["keys"][plan.params["key"]] = "Inactive"
        save(data)
        return Result(undo={"key": plan.params["key"], "status": plan.state["status"]})

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        status = load()["keys"][plan.params["key"]]
        return Verification(ok=status == "Inactive", detail=f"status={status}")


class DeleteUser(Action[UserParams]):
    name = "drill.delete_user"
    description = "Delete a test user (irreversible)."
    params_model = UserParams
    risk = Risk.HIGH
    reversible = False
    mutating = True

    async def plan(self, ctx: ActionContext, params: UserParams, step_id: str) -> Plan:
        exists = params.user in load()["users"]
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(),
                    targets=[params.user], risk=self.risk, reversible=False, mutating=True,
                    changes=[Change(target=params.user, field="exists", before=exists,
                                    after=False),
                             Change(target=params.user, field="access keys", before=1,
                                    after=0)],
                    summary=f"Delete the backdoor user {params.user}")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        data = load()
        data["users"].pop(plan.params["user"], None)
        save(data)
        return Result()

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        gone = plan.params["user"] not in load()["users"]
        return Verification(ok=gone, detail="deleted" if gone else "still there")


class PullEvents(Action[PullParams]):
    """Read-only; throttled on its first call so the responder has to retry."""

    name = "drill.pull_events"
    description = "Pull the test key's audit events into the timeline."
    params_model = PullParams
    risk = Risk.LOW
    reversible = True
    mutating = False
    outputs: ClassVar[tuple[str, ...]] = ("events",)

    async def plan(self, ctx: ActionContext, params: PullParams, step_id: str) -> Plan:
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(),
                    targets=[params.key], risk=self.risk, reversible=True, mutating=False,
                    summary=f"Pull the audit events of {params.key}")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        data = load()
        data["pulls"] += 1
        if data["pull_failures"] > 0:
            data["pull_failures"] -= 1
            save(data)
            raise ActionError("ThrottlingException: rate exceeded", kind="throttled",
                              fix="wait a moment and retry")
        save(data)
        events = sample_events(plan.params["key"])
        for n, _ in enumerate(events):
            ctx.progress(n + 1, len(events), "pulling")
        with (ctx.incident_dir / "timeline.jsonl").open("w") as fh:
            for event in events:
                fh.write(event.model_dump_json() + "\n")
        return Result(outputs={"events": len(events)})


def sample_events(key: str) -> list[Event]:
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    rows = [
        ("GetCallerIdentity", "sts", "deploy-bot", "198.51.100.7", "success", ""),
        ("ListUsers", "iam", "deploy-bot", "203.0.113.50", "success", ""),
        ("CreateUser", "iam", "deploy-bot", "203.0.113.50", "success", "backup-admin"),
        ("CreateAccessKey", "iam", "deploy-bot", "203.0.113.50", "success", "backup-admin"),
        ("DeleteTrail", "cloudtrail", "deploy-bot", "203.0.113.50", "failure", "main-trail"),
        ("ListBuckets", "s3", "deploy-bot", "198.51.100.7", "success", ""),
    ]
    return [Event(uid=f"ct-{n}", time=start + timedelta(minutes=7 * n), source="cloudtrail",
                  cloud="aws", action=action, service=service, actor=actor, credential=key,
                  target=target, source_ip=ip, result=result, region="us-east-1",  # type: ignore[arg-type]
                  account="123456789012",
                  raw={"eventName": action, "sourceIPAddress": ip, "n": n})
            for n, (action, service, actor, ip, result, target) in enumerate(rows)]


class SlowRevoke(Action[UserParams]):
    """A mutating call that hangs until the test opens GATE: an action in flight."""

    name = "drill.slow_revoke"
    description = "Revoke a test user's sessions, slowly."
    params_model = UserParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True

    async def plan(self, ctx: ActionContext, params: UserParams, step_id: str) -> Plan:
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(),
                    targets=[params.user], risk=self.risk, reversible=True, mutating=True,
                    changes=[Change(target=params.user, field="sessions", before="valid",
                                    after="revoked")],
                    summary=f"Revoke the sessions of {params.user}")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        data = load()
        data["slow_calls"] += 1
        save(data)
        await GATE["open"].wait()
        data = load()
        data["sessions_revoked"] = True
        save(data)
        return Result()

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        done = bool(load()["sessions_revoked"])
        return Verification(ok=done, detail="revoked" if done else "still valid")


class TokenParams(BaseModel):
    name: str


class RotateToken(Action[TokenParams]):
    """Rotates a token; the new value is a secret output, shown once and never journaled."""

    name = "drill.rotate_token"
    description = "Rotate a test token."
    params_model = TokenParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True
    outputs: ClassVar[tuple[str, ...]] = ("token",)
    secret_outputs: ClassVar[tuple[str, ...]] = ("token",)

    async def plan(self, ctx: ActionContext, params: TokenParams, step_id: str) -> Plan:
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(),
                    targets=[params.name], risk=self.risk, reversible=True, mutating=True,
                    changes=[Change(target=params.name, field="token", before="old",
                                    after="new (shown once)")],
                    summary=f"Rotate the token {params.name}")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        return Result(outputs={"token": NEW_TOKEN})


class DisableEveryone(Action[UserParams]):
    """Critical: the two-person rule applies."""

    name = "drill.disable_everyone"
    description = "Disable every user of the test cloud."
    params_model = UserParams
    risk = Risk.CRITICAL
    reversible = False
    mutating = True

    async def plan(self, ctx: ActionContext, params: UserParams, step_id: str) -> Plan:
        users = sorted(load()["users"])
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(),
                    targets=users, risk=self.risk, reversible=False, mutating=True,
                    changes=[Change(target=u, field="enabled", before=True, after=False)
                             for u in users],
                    summary=f"Disable all {len(users)} users")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        data = load()
        data["users"] = {u: False for u in data["users"]}
        save(data)
        return Result()


NEW_TOKEN = "tok-7f3a9c1e5b2d4f60"  # what RotateToken hands over, once

ACTIONS: tuple[type[Action], ...] = (DisableKey, DeleteUser, PullEvents,
                                                  SlowRevoke, RotateToken, DisableEveryone)  # type: ignore[type-arg]
