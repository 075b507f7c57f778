"""Exercise mode: start the simulated clouds a runbook's scenario describes.

Imported only in exercise mode, so live and dry-run never load the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rescind.errors import UsageError
from rescind.runbook.model import Runbook


def scenario_path(runbook: Runbook, runbook_path: Path,
                  scenario: Path | None = None) -> Path | None:
    if scenario is not None:
        return scenario
    if runbook.scenario:
        return (runbook_path.parent / runbook.scenario).resolve()
    return None


def scenario_inputs(runbook: Runbook, runbook_path: Path,
                    scenario: Path | None = None) -> dict[str, str]:
    """The inputs an exercise scenario plays, read without starting anything."""
    path = scenario_path(runbook, runbook_path, scenario)
    if path is None or not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}  # starting the sandbox reports a broken scenario properly
    inputs = data.get("inputs") if isinstance(data, dict) else None
    if not isinstance(inputs, dict):
        return {}
    return {str(k): str(v) for k, v in inputs.items() if k in runbook.inputs}


def start_simulated_clouds(
        runbook: Runbook, runbook_path: Path,
        scenario: Path | None = None,
) -> tuple[dict[str, Any], Callable[[], None], dict[str, Any]]:
    """Start the sandbox of every provider the runbook's actions need.

    Returns the settings tables that point each provider at its sandbox, a
    stopper for them all, and the sandboxes (for injects, engine/injects.py).
    """
    from rescind.engine.clouds import needed_providers
    from rescind.providers import registry

    needed = sorted(needed_providers(runbook))
    if not needed:
        return {}, lambda: None, {}
    path = scenario_path(runbook, runbook_path, scenario)
    if path is not None and not path.is_file():
        raise UsageError(f"exercise scenario {path} does not exist",
                         fix=f"fix `scenario:` in {runbook_path.name} or pass --scenario FILE")
    settings: dict[str, Any] = {}
    sandboxes: dict[str, Any] = {}
    stoppers: list[Callable[[], None]] = []

    def stop_all() -> None:
        for stop in reversed(stoppers):
            stop()

    try:
        for name in needed:
            sandbox = registry.require(name).start_sandbox(path)
            if sandbox is None:
                raise UsageError(f"no simulated cloud for {name} yet",
                                 fix="run this runbook in live or dry-run mode")
            stoppers.append(sandbox.stop)
            settings[name] = sandbox.provider_settings()
            sandboxes[name] = sandbox
    except BaseException:
        stop_all()
        raise
    return settings, stop_all, sandboxes


def scenario_record(runbook: Runbook, runbook_path: Path,
                    scenario: Path | None = None) -> dict[str, Any] | None:
    """What ``exercise.scenario`` journals at open: the scenario's name, hash and
    exercise fields, and the permissions each of the runbook's actions declares, so
    scoring and the after-action report need nothing but the journal."""
    import hashlib

    from rescind.actions import registry
    from rescind.runbook.model import ActionStep
    from rescind.sandbox.scenario_exercise import load_brief

    path = scenario_path(runbook, runbook_path, scenario)
    if path is None or not path.is_file():
        return None  # starting the sandbox names a missing scenario
    brief, raw = load_brief(path)
    permissions: dict[str, list[str]] = {}
    for _phase, step in runbook.steps():
        cls = registry.get(step.action) if isinstance(step, ActionStep) else None
        if cls is not None:
            permissions[cls.name] = list(cls.permissions)
    return brief.journal_data(path, hashlib.sha256(raw).hexdigest()) | {
        "action_permissions": permissions}
