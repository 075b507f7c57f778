"""KV v2: rotate a secret the leak exposed by writing a new version.

The new value is generated (or given as a secret input), shown once and never
journaled; the other fields of the secret are kept. The old version stays readable
unless ``destroy_old`` destroys it; while it stays, undo writes it back as the
newest version.
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from pydantic import Field, SecretStr

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
    VaultAction,
    VaultParams,
    gone_or,
    vault,
    with_reversible,
)
from rescind.errors import ActionError
from rescind.providers.vault import VaultProvider


class KvParams(VaultParams, OneOrMany):
    pair = ("path", "paths")
    path: str | None = Field(default=None, description="Secret path inside the mount "
                             "(payments/db), or with it (secret/payments/db)")
    paths: StrList = Field(default_factory=list, description="Several secret paths")
    mount: str = Field(default="secret", pattern=r"^[A-Za-z0-9._-]{1,128}$",
                       description="The KV v2 mount (default secret)")
    fields: StrList = Field(default_factory=list, description="Fields to give new values "
                            "(default: those named like a secret — password, secret, key, "
                            "token, credential —, else every field)")
    value: SecretStr | None = Field(default=None, description="The new value (a secret input); "
                                    "default: 32 random URL-safe characters per field")
    destroy_old: bool = Field(default=False, description="Also destroy the version the leak "
                              "exposed (cannot be undone)")

    def targets(self) -> list[str]:
        prefix = self.mount + "/"
        return [p[len(prefix):] if p.startswith(prefix) else p for p in self.given()]


_SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "key", "token", "credential")


def _secret_fields(data: dict[str, Any]) -> list[str]:
    """The fields a rotation renews by default: a username or a host stays as it is."""
    named = [f for f in sorted(data) if any(w in f.lower() for w in _SECRET_WORDS)]
    return named or sorted(data) or ["value"]


def _current(provider: VaultProvider, mount: str, path: str) -> int | None:
    meta = gone_or(lambda: provider.read(f"{mount}/metadata/{path}"))
    return int(meta.get("current_version") or 0) if meta is not None else None


async def _versions(provider: VaultProvider, mount: str, paths: list[str]
                    ) -> dict[str, int | None]:
    async def one(path: str) -> tuple[str, int | None]:
        return path, await provider.run(_current, provider, mount, path)

    return dict(await bounded(paths, one, provider.width))


@register
class RotateKv(VaultAction):
    name = "vault.kv.rotate"
    description = ("Write a new version of KV v2 secrets with new values (generated, or a "
                   "secret input), shown once; optionally destroy the exposed version")
    params_model = KvParams
    risk = Risk.HIGH
    reversible = True
    mutating = True
    outputs: ClassVar[tuple[str, ...]] = ("paths", "versions", "new_values")
    secret_outputs: ClassVar[tuple[str, ...]] = ("new_values",)
    permissions: ClassVar[tuple[str, ...]] = (
        "read secret/metadata/*", "read secret/data/*", "create secret/data/*",
        "update secret/data/*", "update secret/destroy/*")

    async def plan(self, ctx: ActionContext, params: KvParams, step_id: str) -> Plan:
        provider = vault(ctx)
        paths = params.targets()
        provider.check_count(len(paths), params.max_targets)
        self._value = params.value.get_secret_value() if params.value else None
        found = await _versions(provider, params.mount, paths)
        missing = [p for p, v in found.items() if v is None]
        if missing:
            raise ActionError(f"no KV v2 secret {params.mount}/{missing[0]}", kind="not-found",
                              retryable=False,
                              fix=f"check the path (`vault kv list {params.mount}/`)")
        targets = {p: {"before": v, "after": (v or 0) + 1} for p, v in found.items()}
        warnings = ["Applications reading these secrets must pick up the new version; one "
                    "holding the old value keeps it until it reads again"]
        if params.destroy_old:
            warnings.append("The exposed versions are destroyed: this cannot be undone")
        else:
            warnings.append("The exposed versions stay readable to anyone with read on "
                            "their path (set destroy_old: true to destroy them)")
        plan = plan_for(type(self), params, step_id, targets=[f"{params.mount}/{p}" for p in
                                                              targets],
                        changes=[Change(target=f"{params.mount}/{p}", field="current version",
                                        before=t["before"], after=t["after"])
                                 for p, t in targets.items()],
                        state={"targets": targets}, warnings=warnings,
                        summary=f"Rotate {plural(len(targets), 'KV secret')}: "
                                + ", ".join(f"{params.mount}/{p}" for p in targets))
        plan = plan.model_copy(update={"params": {**plan.params, "value": (
            "given" if params.value else None)}})
        return with_reversible(plan, not params.destroy_old)

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = vault(ctx)
        params = KvParams.model_validate({**plan.params, "value": None})
        mount = params.mount
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        given: str | None = getattr(self, "_value", None)
        if plan.params.get("value") == "given" and not given:
            raise ActionError("the new value was given as a secret and is not kept in the plan",
                              retryable=False, fix="retry the step to plan it again")
        new_values: dict[str, dict[str, str]] = {}
        versions: dict[str, int] = {}

        def rotate(path: str) -> TargetCall:
            def call() -> None:
                current = provider.read(f"{mount}/data/{path}")
                data = dict(current.get("data") or {})
                fields = params.fields or _secret_fields(data)
                fresh = {f: given or secrets.token_urlsafe(24) for f in fields}
                # cas: the write fails if anyone wrote a version since the plan.
                written = provider.write(f"{mount}/data/{path}",
                                         {"data": {**data, **fresh},
                                          "options": {"cas": targets[path]["before"]}})
                new_values[f"{mount}/{path}"] = fresh
                versions[f"{mount}/{path}"] = int(written.get("version") or 0)
                if params.destroy_old:
                    provider.write(f"{mount}/destroy/{path}",
                                   {"versions": [targets[path]["before"]]})

            return TargetCall(target=f"{mount}/{path}", operation=f"update {mount}/data/{path}",
                              fn=call)

        done = await run_targets(ctx, vault(ctx), self.name, [rotate(p) for p in targets],
                                       verb="rotations")
        return Result(outputs={"paths": [f"{mount}/{p}" for p in targets],
                               "versions": versions, "new_values": new_values},
                      details=[f"{t}: new version written" for t in done],
                      undo=None if params.destroy_old else {
                          "versions": {p: t["before"] for p, t in targets.items()}})

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = vault(ctx)
        mount = str(plan.params.get("mount") or "secret")
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        now = await _versions(provider, mount, list(targets))
        stale = [f"{mount}/{p}" for p, t in targets.items() if (now.get(p) or 0) < t["after"]]
        if stale:
            return Verification(ok=False, detail=f"no new version of {', '.join(stale)}")
        return Verification(ok=True, detail=f"{plural(len(targets), 'KV secret')} rotated")

    async def undo(self, ctx: ActionContext, plan: Plan, result: Result) -> Result:
        if not result.undo:
            raise ActionError("the exposed versions were destroyed: nothing to restore",
                              retryable=False)
        provider = vault(ctx)
        mount = str(plan.params.get("mount") or "secret")
        old: dict[str, int] = result.undo["versions"]

        def restore(path: str) -> TargetCall:
            def call() -> None:
                data = provider.read(f"{mount}/data/{path}", version=str(old[path]))
                provider.write(f"{mount}/data/{path}", {"data": data.get("data") or {}})

            return TargetCall(target=f"{mount}/{path}", operation=f"update {mount}/data/{path}",
                              fn=call)

        done = await run_targets(ctx, vault(ctx), self.name, [restore(p) for p in old],
                                       verb="restores")
        return Result(details=[f"{t}: version before the rotation written back" for t in done])
