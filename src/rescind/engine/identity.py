"""Who rescind acts as, per provider: for the app's header and the start form's check.

Read-only (AWS: sts:GetCallerIdentity through the provider). The engine offers this
so a front end never imports a provider; the provider registry can route it later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rescind.actions import registry
from rescind.errors import RescindError
from rescind.modes import Mode
from rescind.runbook.model import ActionStep, Runbook


@dataclass(frozen=True)
class Identity:
    provider: str
    account: str = ""  # account, tenant or project
    principal: str = ""  # the identity rescind acts as
    problem: str | None = None  # why it could not be found, with the fix

    @property
    def ok(self) -> bool:
        return self.problem is None


def needed_providers(runbook: Runbook) -> set[str]:
    """The clouds a runbook's actions call."""
    needed: set[str] = set()
    for _, step in runbook.steps():
        if isinstance(step, ActionStep):
            cls = registry.get(step.action)
            if cls is not None:
                needed.update(cls.providers)
    return needed


def identities(providers: Mapping[str, Any]) -> list[Identity]:
    """Ask every provider who it acts as. Blocking: call it from a thread."""
    found: list[Identity] = []
    for name in sorted(providers):
        ask = getattr(providers[name], "caller_identity", None)
        if not callable(ask):
            found.append(Identity(name, problem="this provider cannot say who it acts as"))
            continue
        try:
            who = ask()
        except RescindError as exc:
            fix = f" (fix: {exc.fix})" if exc.fix else ""
            found.append(Identity(name, problem=f"{exc.message}{fix}"))
            continue
        found.append(Identity(name, account=str(getattr(who, "account", "")),
                              principal=str(getattr(who, "arn", who))))
    return found


def check_credentials(runbook: Runbook, mode: Mode,
                      settings: Mapping[str, Any] | None = None) -> list[Identity]:
    """Before an incident starts: every provider the runbook uses, and who it would act as.

    Exercise mode needs no check (the simulated cloud brings its own credentials).
    A provider that cannot even be built is reported as a problem, never raised.
    """
    needed = needed_providers(runbook)
    if mode is Mode.EXERCISE or not needed:
        return []
    from rescind.providers.factory import build_providers

    try:
        providers = build_providers(needed, mode, settings or {})
    except RescindError as exc:
        return [Identity(", ".join(sorted(needed)), problem=exc.message)]
    try:
        return identities(providers)
    finally:
        for provider in providers.values():
            close = getattr(provider, "close", None)
            if callable(close):
                close()
