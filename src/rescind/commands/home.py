"""Open the terminal app: ``rescind`` alone (home), ``rescind run`` and ``rescind resume``.

Textual is imported here, not at the top of cli.py, so `rescind --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _run(app: Any) -> int:
    # The incident screen shuts its session down (lock, simulated cloud) when the app
    # unmounts it, however the app ends.
    return int(app.run() or 0)


def open_home() -> int:
    """The home screen: runbook library, incidents to resume or open, start an exercise."""
    import sys

    from rescind.commands.run import is_terminal
    from rescind.errors import UsageError

    # Without a terminal (a pipe, cron, CI) the app would write screen codes into the
    # pipe and wait for keys that never come.
    if not (is_terminal(sys.stdin) and is_terminal(sys.stdout)):
        raise UsageError("the app needs a terminal (stdin and stdout are not one)",
                         fix="run `rescind` in a terminal, or use a command: `rescind run "
                             "RUNBOOK --no-tui`, `rescind --help`")
    from rescind.tui.app import RescindApp

    return _run(RescindApp())


def run_tui(session_config: Any) -> int:
    """`rescind run RUNBOOK`: the incident screen for a new incident (home underneath)."""
    from rescind.tui.app import RescindApp

    return _run(RescindApp(incidents_root=session_config.out_dir, start=session_config))


def resume_tui(incident_dir: Path, *, key: Path | None = None,
               settings: dict[str, Any] | None = None) -> int:
    """`rescind resume DIR`: continue an interrupted incident in the app."""
    from rescind.tui.app import RescindApp

    return _run(RescindApp(incidents_root=incident_dir.resolve().parent, resume=incident_dir,
                           key=key, settings=settings))
