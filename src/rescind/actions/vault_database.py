"""Database secrets engine: rotate the root credential Vault connects with, and the
passwords of static roles (seed: "rotate DB creds")."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from rescind.actions.base import ActionContext, Change, Plan, Result, Risk, Verification
from rescind.actions.common import (
    OneOrMany,
    StrList,
    TargetCall,
    bounded,
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
    vault,
)
from rescind.errors import ActionError
from rescind.providers.vault import VaultProvider

MOUNT = Field(default="database", pattern=r"^[A-Za-z0-9._/-]{1,128}$",
              description="The database secrets engine's mount (default database)")


class RootParams(VaultParams):
    connection: str = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$",
                            description="Name of the database connection (database/config/NAME)")
    mount: str = MOUNT


@register
class RotateRoot(VaultAction):
    name = "vault.database.rotate_root"
    description = ("Rotate the root credential Vault uses for a database connection; "
                   "afterwards only Vault knows it")
    params_model = RootParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    outputs: ClassVar[tuple[str, ...]] = ("connection", "username")
    permissions: ClassVar[tuple[str, ...]] = ("read database/config/+",
                                              "update database/rotate-root/+")

    async def plan(self, ctx: ActionContext, params: RootParams, step_id: str) -> Plan:
        provider = vault(ctx)
        mount = params.mount.strip("/")
        config = await provider.run(_config, provider, mount, params.connection)
        username = str((config.get("connection_details") or {}).get("username", ""))
        return plan_for(
            type(self), params, step_id, targets=[params.connection],
            changes=[Change(target=params.connection, field="root password",
                            before=f"the current password of {username or 'the root user'}",
                            after="a new password only Vault knows")],
            state={"mount": mount, "username": username, "planned": _now_iso()},
            warnings=[f"Anything else logging in as {username or 'the root user'} stops "
                      "working: Vault keeps the new password to itself",
                      "Database users Vault created before stay valid until their leases "
                      "are revoked (vault.lease.revoke_prefix database/creds/ROLE)"],
            summary=f"Rotate the root credential of database connection {params.connection}"
                    + (f" ({username})" if username else ""))

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = vault(ctx)
        params = RootParams.model_validate(plan.params)
        mount = plan.state["mount"]
        await provider.run(_config, provider, mount, params.connection)
        await run_targets(ctx, vault(ctx), self.name, [TargetCall(
            target=params.connection, operation=f"update {mount}/rotate-root/"
                                                f"{params.connection}",
            fn=lambda: provider.write(f"{mount}/rotate-root/{params.connection}"))],
            verb="root rotations")
        return Result(outputs={"connection": params.connection,
                               "username": plan.state["username"]},
                      details=[f"{params.connection}: root credential rotated"])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        # Vault never shows the root password or when it changed (database/config/NAME
        # answers the same before and after), so the one record of the rotation is the
        # audit device's: read it back when its log is at hand ([vault] audit_logs).
        provider = vault(ctx)
        params = RootParams.model_validate(plan.params)
        await provider.run(_config, provider, plan.state["mount"], params.connection)
        path = f"{plan.state['mount']}/rotate-root/{params.connection}"
        logs = [p for p in provider.audit_logs if p.is_file()]
        if logs:
            since = str(plan.state.get("planned") or "")
            seen = await provider.run(rotation_logged, logs, path, since)
            if seen is None:
                return Verification(ok=False, detail=f"Vault's audit log has no update {path} "
                                    "since the plan: the rotation did not reach Vault")
            when, error = seen
            if error:
                return Verification(ok=False, detail=f"Vault's audit log records update {path} "
                                    f"at {when} failing: {error[:200]}")
            return Verification(ok=True, detail=f"read back from Vault's audit log: update "
                                f"{path} at {when}, answered without error (the password "
                                "itself is never readable)")
        if result is None:
            return Verification(ok=False, detail="Vault does not expose when a root credential "
                                "was rotated, the outcome was lost and no audit log is "
                                "configured ([vault] audit_logs): rotate again to be sure")
        return Verification(ok=True, detail=f"{params.connection} is configured and Vault "
                            "accepted the rotation; Vault does not expose the root password "
                            "or its age, and with no audit log configured ([vault] "
                            "audit_logs) nothing more can be read back")


CLOCK_SKEW = timedelta(minutes=1)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_time(value: str) -> datetime | None:
    try:  # Vault writes nanoseconds; Python reads at most microseconds
        return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value))
    except ValueError:
        return None


def rotation_logged(logs: list[Path], path: str, since: str) -> tuple[str, str] | None:
    """The audit device's last response to ``update path`` at or after ``since`` (less a
    minute: Vault's clock is not ours), as (time, error), or None. Lines that are not
    audit entries are passed over."""
    start = _parse_time(since) if since else None
    if start is not None:
        start -= CLOCK_SKEW
    found: tuple[str, str] | None = None
    for log in logs:
        with log.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(entry, dict) or entry.get("type") != "response":
                    continue
                request = entry.get("request") or {}
                if (not isinstance(request, dict) or str(request.get("path", "")).strip("/")
                        != path or request.get("operation") not in ("update", "create")):
                    continue
                when = _parse_time(str(entry.get("time", "")))
                if start is not None and (when is None or when < start):
                    continue
                found = (str(entry.get("time", "")), str(entry.get("error") or ""))
    return found


def _config(provider: VaultProvider, mount: str, name: str) -> dict[str, Any]:
    data = gone_or(lambda: provider.read(f"{mount}/config/{name}"))
    if data is None:
        raise ActionError(f"no database connection {name} in {mount}/", kind="not-found",
                          retryable=False, fix=f"check the name (`vault list {mount}/config`)")
    return data


class StaticParams(VaultParams, OneOrMany):
    pair = ("role", "roles")
    role: str | None = Field(default=None, description="A static role (database/static-roles/NAME)")
    roles: StrList = Field(default_factory=list, description="Several static roles")
    mount: str = MOUNT


async def _rotations(provider: VaultProvider, mount: str, roles: list[str]
                     ) -> dict[str, dict[str, Any] | None]:
    async def one(role: str) -> tuple[str, dict[str, Any] | None]:
        data = await provider.run(gone_or, lambda: provider.read(f"{mount}/static-roles/{role}"))
        return role, data

    return dict(await bounded(roles, one, provider.width))


@register
class RotateStaticRole(VaultAction):
    name = "vault.database.rotate_role"
    description = "Rotate the password of database static roles now (rotate-role)"
    params_model = StaticParams
    risk = Risk.MEDIUM
    reversible = False
    mutating = True
    outputs: ClassVar[tuple[str, ...]] = ("roles", "usernames")
    permissions: ClassVar[tuple[str, ...]] = ("read database/static-roles/+",
                                              "update database/rotate-role/+")

    async def plan(self, ctx: ActionContext, params: StaticParams, step_id: str) -> Plan:
        provider = vault(ctx)
        mount = params.mount.strip("/")
        roles = params.targets()
        provider.check_count(len(roles), params.max_targets)
        found = await _rotations(provider, mount, roles)
        missing = [r for r, d in found.items() if d is None]
        if missing:
            raise ActionError(f"no static role {missing[0]} in {mount}/", kind="not-found",
                              retryable=False,
                              fix=f"check the name (`vault list {mount}/static-roles`)")
        targets = {r: {"username": (d or {}).get("username", ""),
                       "before": (d or {}).get("last_vault_rotation")}
                   for r, d in found.items()}
        return plan_for(type(self), params, step_id, targets=list(targets),
                        changes=[Change(target=r, field="last_vault_rotation",
                                        before=t["before"], after="now")
                                 for r, t in targets.items()],
                        state={"mount": mount, "targets": targets},
                        warnings=["Applications must read the new password from Vault "
                                  "(database/static-creds/ROLE); a copy of the old one stops "
                                  "working at once", LEASES_OUTLIVE],
                        summary=f"Rotate {plural(len(targets), 'static role')}: "
                                + ", ".join(f"{r} ({t['username']})"
                                            for r, t in targets.items()))

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = vault(ctx)
        mount = plan.state["mount"]
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        now = await _rotations(provider, mount, list(targets))
        gone = [r for r, d in now.items() if d is None]
        if gone:
            raise ActionError(f"static role {gone[0]} was removed since the plan",
                              kind="not-found", retryable=False,
                              fix="retry to re-plan against what exists now, or skip")

        def rotate(role: str) -> TargetCall:
            return TargetCall(target=role, operation=f"update {mount}/rotate-role/{role}",
                              fn=lambda: provider.write(f"{mount}/rotate-role/{role}"))

        # Rotating again is harmless (and what was approved): no drift check needed.
        done = await run_targets(ctx, vault(ctx), self.name, [rotate(r) for r in targets],
                                       verb="rotations")
        return Result(outputs={"roles": list(targets),
                               "usernames": [t["username"] for t in targets.values()]},
                      details=[f"{r}: rotated" for r in done])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = vault(ctx)
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        now = await _rotations(provider, plan.state["mount"], list(targets))
        stale = [r for r, t in targets.items()
                 if now.get(r) is None or (now[r] or {}).get("last_vault_rotation") == t["before"]]
        if stale:
            return Verification(ok=False, detail=f"not rotated: {', '.join(stale)}")
        return Verification(ok=True, detail=f"{plural(len(targets), 'static role')} rotated")
