"""`rescind validate PATH...`: check runbooks completely, before anything runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rescind.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "validate", help="check runbooks without running them",
        description="Check runbooks completely without running anything: YAML syntax, "
        "unknown keys, step kinds, duplicate step ids, that actions exist and their "
        "parameters type-check, that ${{ }} references and when: conditions (CEL) name "
        "inputs, steps and outputs that exist and run earlier, and that input patterns and "
        "defaults agree; and a runbook's exercise scenario. An exercise scenario file "
        "is checked too: each cloud's section and its injects (attacker moves, times, "
        "after_step naming a step of the runbook that plays it). Each problem is printed "
        "as FILE:LINE:COL: message on stderr.",
        epilog="Exit status: 0 when every runbook is valid, 2 when any problem is found.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a runbook or scenario file, a directory (every *.yaml and *.yml "
                   "directly in it), or the id of a shipped runbook")
    p.add_argument("--runbook", metavar="RUNBOOK",
                   help="for a scenario file: the runbook that plays it, whose steps its "
                   "injects' after_step must name (a runbook's own scenario: is checked "
                   "against it without this)")
    p.set_defaults(func=run)


def _expand(args: list[str]) -> list[Path]:
    from rescind.runbook.library import find_runbook, runbook_files

    files: list[Path] = []
    for arg in args:
        path = Path(arg).expanduser()
        if path.is_dir():
            found = runbook_files(path)
            if not found:
                raise UsageError(f"no *.yaml or *.yml files in {arg}",
                                 fix="pass runbook files or a folder that holds them")
            files += found
        else:
            files.append(find_runbook(arg))
    return files


def run(args: argparse.Namespace) -> int:
    from rescind.runbook.loader import RunbookError
    from rescind.runbook.validate import load_and_validate
    from rescind.textsafe import visible

    files = _expand(args.paths)
    steps, played_by = _steps_of(args.runbook) if args.runbook else (None, "")
    failed = 0
    for path in files:
        problems: list[str] = []
        if _is_scenario(path):
            from rescind.sandbox.scenario_check import check_scenario

            problems = check_scenario(path, steps, played_by)
        else:
            try:
                loaded = load_and_validate(path)
            except RunbookError as exc:
                problems = [str(p) for p in exc.problems]
            else:
                problems = _its_scenario(loaded)
        if problems:
            failed += 1
            for problem in problems:
                print(visible(problem), file=sys.stderr)
    what = "file(s)" if any(map(_is_scenario, files)) else "runbook(s)"
    if failed:
        print(f"{failed} of {len(files)} {what} invalid", file=sys.stderr)
        return 2
    print(f"ok: {len(files)} {what} valid")
    return 0


def _is_scenario(path: Path) -> bool:
    import yaml

    from rescind.sandbox.scenario_check import is_scenario

    try:
        return is_scenario(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False  # the runbook loader reports it with its position


def _steps_of(runbook: str) -> tuple[set[str], str]:
    from rescind.runbook.library import find_runbook
    from rescind.runbook.loader import RunbookError
    from rescind.runbook.validate import load_and_validate

    try:
        loaded = load_and_validate(find_runbook(runbook))
    except RunbookError as exc:
        raise UsageError(f"--runbook {runbook} is not a valid runbook",
                         fix="run `rescind validate` on it first") from exc
    return {step.id for _, step in loaded.runbook.steps()}, loaded.runbook.id


def _its_scenario(loaded: Any) -> list[str]:
    """The problems of the exercise scenario a runbook names (none when it names none;
    a missing file is a problem)."""
    from rescind.sandbox.scenario_check import check_scenario

    if not loaded.runbook.scenario:
        return []
    path = (loaded.path.parent / loaded.runbook.scenario).resolve()
    if not path.is_file():
        return [f"{loaded.path}: scenario: {loaded.runbook.scenario} does not exist"]
    return check_scenario(path, {step.id for _, step in loaded.runbook.steps()},
                          loaded.runbook.id)
