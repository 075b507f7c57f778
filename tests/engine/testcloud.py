"""A tiny cloud for engine tests: state in a JSON file, one transport, a real guard.

Its state lives in a file so a test can kill the engine's process mid-action and
read back what really happened, as with a real cloud.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from rescind.actions.base import (
    Action,
    ActionContext,
    Change,
    Plan,
    Result,
    Risk,
    Verification,
)
from rescind.errors import ActionError
from rescind.providers.base import BlockedCall
from rescind.redaction import REDACTED

READ_OPS = ("Get", "List")


class FakeCloud:
    """The provider. ``call`` is its only transport; the guard sits in it."""

    name = "testcloud"

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            self.save({"users": {"alice": {"enabled": True}, "bob": {"enabled": True},
                                 "carol": {"enabled": True}},
                       "calls": []})
        self._on_blocked: Callable[[BlockedCall], None] | None = None
        self.fail_next: list[str] = []

    def load(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.path.read_text())
        return data

    def save(self, data: dict[str, Any]) -> None:
        self.path.write_text(json.dumps(data))

    def install_dry_run_guard(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        self._on_blocked = on_blocked

    @property
    def guarded(self) -> bool:
        return self._on_blocked is not None

    def call(self, op: str, **params: Any) -> dict[str, Any]:
        if self._on_blocked is not None and not op.startswith(READ_OPS):
            self._on_blocked(BlockedCall("testcloud", f"test:{op}", dict(params)))
            return {}
        if self.fail_next and self.fail_next[0] == op:
            self.fail_next.pop(0)
            raise ActionError(f"AccessDenied: not authorized to perform test:{op}",
                              kind="permission", fix="grant test:" + op)
        data = self.load()
        data["calls"].append(op)
        user = params.get("user")
        if op == "GetUser":
            self.save(data)
            if user not in data["users"]:
                raise ActionError(f"user {user} does not exist", kind="not-found",
                                  retryable=False)
            return dict(data["users"][user])
        if op == "DisableUser":
            data["users"][user]["enabled"] = False
        elif op == "EnableUser":
            data["users"][user]["enabled"] = True
        elif op == "DeleteUser":
            data["users"].pop(user, None)
        self.save(data)
        return {}


class UnguardedCloud:
    """A provider without a dry-run guard: the engine must refuse it in dry-run."""

    name = "unguarded"


class UserParams(BaseModel):
    user: str


class DisableUser(Action[UserParams]):
    name = "test.disable_user"
    description = "Disable a test user (reversible)."
    params_model = UserParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True
    providers = ("testcloud",)
    outputs = ("user", "disabled_at")

    async def plan(self, ctx: ActionContext, params: UserParams, step_id: str) -> Plan:
        cloud = ctx.provider("testcloud")
        before = cloud.call("GetUser", user=params.user)
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(),
                    targets=[params.user], risk=self.risk, reversible=True, mutating=True,
                    changes=[Change(target=params.user, field="enabled",
                                    before=before["enabled"], after=False)],
                    summary=f"disable {params.user}", state={"before": before},
                    outputs={"user": params.user})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        cloud = ctx.provider("testcloud")
        user = plan.params["user"]
        if cloud.call("GetUser", user=user) != plan.state["before"]:
            raise ActionError(f"{user} changed since planning", kind="conflict")
        cloud.call("DisableUser", user=user)
        # Known only once applied, as a real action's request id or timestamp is.
        return Result(outputs={"user": user, "disabled_at": len(cloud.load()["calls"])},
                      undo={"op": "EnableUser", "user": user})

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        state = ctx.provider("testcloud").call("GetUser", user=plan.params["user"])
        return Verification(ok=state["enabled"] is False, detail=f"enabled={state['enabled']}")


class DeleteUser(DisableUser):
    name = "test.delete_user"
    description = "Delete a test user (irreversible)."
    risk = Risk.HIGH
    reversible = False

    async def plan(self, ctx: ActionContext, params: UserParams, step_id: str) -> Plan:
        base = await super().plan(ctx, params, step_id)
        return base.model_copy(update={
            "action": self.name, "risk": self.risk, "reversible": False,
            "changes": [Change(target=params.user, field="exists", before=True, after=False)]})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        ctx.provider("testcloud").call("DeleteUser", user=plan.params["user"])
        return Result(outputs={"user": plan.params["user"]})

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        users = ctx.provider("testcloud").load()["users"]
        return Verification(ok=plan.params["user"] not in users)


class NukeUser(DeleteUser):
    name = "test.nuke_user"
    description = "Delete a production user: two-person rule."
    risk = Risk.CRITICAL

    async def plan(self, ctx: ActionContext, params: UserParams, step_id: str) -> Plan:
        base = await super().plan(ctx, params, step_id)
        return base.model_copy(update={"action": self.name, "risk": self.risk})


class SneakyDisable(DisableUser):
    """Tries to mutate even while planning: the dry-run guard must stop it anyway."""

    name = "test.sneaky_disable"

    async def plan(self, ctx: ActionContext, params: UserParams, step_id: str) -> Plan:
        ctx.provider("testcloud").call("DisableUser", user=params.user)
        base = await super().plan(ctx, params, step_id)
        return base.model_copy(update={"action": self.name})


class RotateParams(UserParams):
    reason: str = ""
    hint: str = ""


class RotateToken(Action[RotateParams]):
    """Returns a secret output that must be shown once and never journaled."""

    name = "test.rotate_token"
    description = "Rotate a token."
    params_model = RotateParams
    risk = Risk.LOW
    reversible = False
    mutating = True
    providers = ("testcloud",)
    outputs = ("token",)
    secret_outputs: ClassVar[tuple[str, ...]] = ("token",)

    async def plan(self, ctx: ActionContext, params: RotateParams, step_id: str) -> Plan:
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(),
                    targets=[params.user], risk=self.risk, reversible=False, mutating=True,
                    summary=f"rotate the token of {params.user} ({params.reason})")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        # The action itself gets the real secret values, not the redacted record.
        assert plan.params["reason"] != REDACTED
        ctx.provider("testcloud").call("RotateToken", user=plan.params["user"])
        return Result(outputs={"token": ctx.settings["canary"]})


ALL_ACTIONS: list[type[Action]] = [DisableUser, DeleteUser, NukeUser,  # type: ignore[type-arg]
                                   SneakyDisable, RotateToken]
