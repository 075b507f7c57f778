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
        "defaults agree. Each problem is printed as FILE:LINE:COL: message on stderr.",
        epilog="Exit status: 0 when every runbook is valid, 2 when any problem is found.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a runbook file, a directory (every *.yaml and *.yml directly in "
                   "it), or the id of a shipped runbook")
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
    failed = 0
    for path in files:
        try:
            load_and_validate(path)
        except RunbookError as exc:
            failed += 1
            for problem in exc.problems:
                print(visible(problem), file=sys.stderr)
    if failed:
        print(f"{failed} of {len(files)} runbook(s) invalid", file=sys.stderr)
        return 2
    print(f"ok: {len(files)} runbook(s) valid")
    return 0
