"""`rescind resume DIR`: continue an interrupted incident where it stopped."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from rescind.commands.run import (
    INPUT_HELP,
    add_session_options,
    check_auto_approve,
    complete_inputs,
    drive,
    parse_inputs,
    wants_tui,
)
from rescind.modes import Mode
from rescind.settings.cli import session_settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "resume", help="continue an interrupted incident",
        description="Continue an interrupted incident from its journal: steps a signed "
        "checkpoint covers are not repeated; a change the unsigned lines after it claim is "
        "first re-checked with the cloud, and their other steps run again. A closed "
        "incident whose seal was interrupted is sealed (as `rescind seal` does).")
    p.add_argument("incident", type=Path, help="the incident folder")
    add_session_options(p)
    p.add_argument("--input", "-i", action="append", default=[], metavar="KEY=VALUE",
                   help="secret inputs again (they are never recorded); " + INPUT_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rescind.commands.seal import complete_seal

    # A closed incident whose seal a crash interrupted: resuming it means finishing that.
    sealed = complete_seal(args.incident, key=args.key, email=args.email)
    if sealed is not None:
        return sealed
    if wants_tui(args):
        try:
            from rescind.commands.home import resume_tui
        except ImportError:
            pass
        else:
            return resume_tui(args.incident, key=args.key, settings=session_settings(args))
    return asyncio.run(_resume(args))


async def _resume(args: argparse.Namespace) -> int:
    from rescind.engine.session import IncidentSession
    from rescind.engine.state import recover
    from rescind.headless import ExerciseResponder, TerminalResponder
    from rescind.record.journal import read_entries

    journal = args.incident / "journal.jsonl"
    inputs = parse_inputs(args.input)
    if journal.is_file():
        # A torn last line is no obstacle: resume repairs it once it holds the lock.
        state = recover(read_entries(journal, allow_torn=True))
        check_auto_approve(args, Mode(state.mode))
        runbook = _runbook(state.runbook_path)
        if runbook is not None:
            inputs = complete_inputs(runbook, inputs, recorded=state.inputs,
                                     prompt=not args.auto_approve)
    responder = ExerciseResponder() if args.auto_approve else TerminalResponder()
    session = await IncidentSession.resume(args.incident, responder, key=args.key,
                                           settings=session_settings(args),
                                           inputs=inputs,
                                           email=args.email)
    return await drive(session, responder)


def _runbook(path: str | None) -> Any:
    """The incident's runbook, to know its secret inputs; None when it cannot be
    loaded (resume then says why, with the fix)."""
    from rescind.errors import RescindError
    from rescind.runbook.validate import load_and_validate

    if not path:
        return None
    try:
        return load_and_validate(Path(path)).runbook
    except RescindError:
        return None
