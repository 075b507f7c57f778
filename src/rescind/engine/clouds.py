"""Open an incident's clouds: simulated ones in exercise mode, providers, dry-run guards.

``start`` and ``resume`` both call ``open_clouds``; the stopper it returns closes
every provider (threads, connections) and stops every sandbox, and the session
calls it when it shuts down, so a resume in the same process starts clean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescind.actions import registry as actions
from rescind.errors import UsageError
from rescind.modes import Mode
from rescind.providers import registry as providers
from rescind.providers.base import BlockedCall
from rescind.runbook.model import ActionStep, Runbook
from rescind.settings.tree import merge


def needed_providers(runbook: Runbook) -> set[str]:
    """The providers the runbook's actions declare."""
    needed: set[str] = set()
    for _, step in runbook.steps():
        if isinstance(step, ActionStep):
            cls = actions.get(step.action)
            if cls is not None:
                needed.update(cls.providers_for(step.with_))
    return needed


class BlockedSink:
    """Receives blocked calls; the session attaches itself once it exists."""

    def __init__(self) -> None:
        self.target: Callable[[BlockedCall], None] | None = None

    def __call__(self, call: BlockedCall) -> None:
        if self.target is not None:
            self.target(call)


@dataclass
class Clouds:
    providers: dict[str, Any]
    settings: dict[str, Any]
    sink: BlockedSink = field(default_factory=BlockedSink)
    stop: Callable[[], None] = lambda: None
    sandboxes: dict[str, Any] = field(default_factory=dict)  # exercise mode's simulated clouds


async def open_clouds(runbook: Runbook, runbook_path: Path, mode: Mode,
                      settings: Mapping[str, Any], *, scenario: Path | None = None,
                      given: dict[str, Any] | None = None,
                      incident_id: str | None = None) -> Clouds:
    """Sandboxes (exercise, unless providers are ``given``) → providers → dry-run guards."""
    settings = dict(settings)
    stop_sandboxes: Callable[[], None] = _nothing
    sandboxes: dict[str, Any] = {}
    if mode is Mode.EXERCISE and given is None:
        from rescind.engine.exercise import start_simulated_clouds

        sandbox_settings, stop_sandboxes, sandboxes = await asyncio.to_thread(
            start_simulated_clouds, runbook, runbook_path, scenario)
        settings = merge(settings, sandbox_settings)
    built: dict[str, Any] = {}
    try:
        if given is None:
            needed = needed_providers(runbook)
            built = dict(providers.build_providers(needed, mode, settings,
                                                   incident_id=incident_id)) if needed else {}
        opened = given if given is not None else built
        sink = BlockedSink()
        guard_dry_run(runbook, mode, opened, sink)
    except BaseException:
        providers.close_all(built)
        stop_sandboxes()
        raise

    def stop() -> None:
        providers.close_all(opened)
        stop_sandboxes()

    return Clouds(providers=opened, settings=settings, sink=sink, stop=stop,
                  sandboxes=sandboxes)


def guard_dry_run(runbook: Runbook, mode: Mode, opened: Mapping[str, Any],
                  sink: Callable[[BlockedCall], None]) -> None:
    """In dry-run, install every provider's guard, or refuse to start.

    The guarantee is structural: a provider that cannot block mutating calls at
    its transport is not allowed into a dry-run at all.
    """
    if mode is not Mode.DRY_RUN:
        return
    for name in sorted(needed_providers(runbook) | set(opened)):
        provider = opened.get(name)
        install = getattr(provider, "install_dry_run_guard", None)
        if provider is not None and callable(install):
            install(sink)
        if provider is None or not callable(install) or not getattr(provider, "guarded", False):
            raise UsageError(
                f"dry-run refused: provider {name!r} has no dry-run guard, so a mutating "
                "call could not be stopped",
                fix="run in exercise mode against the simulated cloud instead")


def _nothing() -> None:
    pass
