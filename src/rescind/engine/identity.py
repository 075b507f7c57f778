"""Who rescind acts as, per provider: for the app's header and the start form's check.

Read-only: each provider's ``identities()`` (AWS: sts:GetCallerIdentity), the same
answer `rescind config check` prints. The engine offers this so a front end never
imports a provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rescind.engine.clouds import needed_providers
from rescind.errors import RescindError
from rescind.modes import Mode
from rescind.runbook.model import Runbook


@dataclass(frozen=True)
class Identity:
    provider: str
    account: str = ""  # account, tenant or project
    principal: str = ""  # the identity rescind acts as
    problem: str | None = None  # why it could not be found, with the fix

    @property
    def ok(self) -> bool:
        return self.problem is None


def identities(providers: Mapping[str, Any]) -> list[Identity]:
    """Ask every provider who it acts as, and where. Blocking: call it from a thread."""
    found: list[Identity] = []
    for name in sorted(providers):
        ask = getattr(providers[name], "identities", None)
        if not callable(ask):
            found.append(Identity(name, problem="this provider cannot say who it acts as"))
            continue
        try:
            places: list[tuple[str, str]] = ask()
        except RescindError as exc:
            fix = f" (fix: {exc.fix})" if exc.fix else ""
            found.append(Identity(name, problem=f"{exc.message}{fix}"))
            continue
        found += [Identity(name, account=where, principal=who) for where, who in places]
    return found


def check_credentials(runbook: Runbook, mode: Mode,
                      settings: Mapping[str, Any] | None = None) -> list[Identity]:
    """Before an incident starts: every provider the runbook uses, and who it would act as.

    Exercise mode needs no check (the simulated cloud brings its own credentials).
    A provider that cannot even be built is reported as a problem, never raised; each
    request gets ``providers.base.CHECK_LIMITS``.
    """
    needed = needed_providers(runbook)
    if mode is Mode.EXERCISE or not needed:
        return []
    from rescind.providers import base
    from rescind.providers.registry import build_providers, close_all
    from rescind.settings.tree import normalise

    try:
        providers = build_providers(needed, mode, normalise(settings or {}))
    except RescindError as exc:
        return [Identity(", ".join(sorted(needed)), problem=exc.message)]
    try:
        # Built for this check alone: bounded as `rescind config check` is, so a VPN that
        # is down is said in seconds, not after minutes of the SDKs' retries. The
        # incident's own providers keep those retries.
        for provider in providers.values():
            limit = getattr(provider, "limit_for_check", None)
            if callable(limit):
                limit(base.CHECK_LIMITS)
        return identities(providers)
    finally:
        close_all(providers)
