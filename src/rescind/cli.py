"""The ``rescind`` command: parses arguments, then calls the engine or starts the TUI."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rescind import __version__
from rescind.commands import COMMAND_MODULES
from rescind.errors import RescindError

if TYPE_CHECKING:
    import argparse


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="rescind",
        description="Walk a responder through a leaked-credential incident: contain, assess, "
        "notify, remediate, document; revoke behind confirmations; leave a signed record.",
        epilog="Run `rescind` with no command to open the terminal app.",
    )
    parser.add_argument("--version", action="version", version=f"rescind {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else list(argv)
    # `rescind` alone opens the app: building every command's parser first (it
    # imports the timeline sources, pydantic among them; argparse itself pulls gettext)
    # would delay its first frame.
    args = build_parser().parse_args(given) if given else None
    func = getattr(args, "func", None)
    try:
        if func is None:
            from rescind.commands.home import open_home

            return open_home()
        code: int = func(args)
        return code
    except RescindError as exc:
        from rescind.textsafe import visible

        # A message can quote a runbook, a plan or a cloud: no escape reaches the terminal.
        print(f"rescind: {visible(exc.message, multiline=True)}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {visible(exc.fix, multiline=True)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rescind: interrupted; the incident record keeps everything written so far",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into e.g. `head`: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
