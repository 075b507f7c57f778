"""`rescind run RUNBOOK`: start an incident from a runbook."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from rescind.errors import UsageError
from rescind.modes import Mode
from rescind.settings.cli import add_options, session_settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="start an incident from a runbook",
        description="Start an incident: validate the runbook, create the incident folder, "
        "and walk through contain, assess, notify, remediate and document. Opens the "
        "terminal app unless --no-tui is given (or the output is not a terminal).")
    p.add_argument("runbook", help="runbook file, or the id of a shipped runbook")
    add_session_options(p)
    p.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.EXERCISE.value,
                   help="live: the real accounts; dry-run: the real accounts, read-only; "
                        "exercise: a simulated cloud (default: exercise)")
    p.add_argument("--input", "-i", action="append", default=[], metavar="KEY=VALUE",
                   help=INPUT_HELP)
    p.add_argument("--out", type=Path, default=Path("incidents"), metavar="DIR",
                   help="folder that holds incident folders (default: ./incidents)")
    p.add_argument("--scenario", type=Path, metavar="FILE",
                   help="exercise scenario (default: the runbook's own `scenario:`)")
    p.set_defaults(func=run)


def add_session_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `run` and `resume`."""
    p.add_argument("--no-tui", action="store_true",
                   help="run in the terminal without the app; approvals are asked inline")
    p.add_argument("--auto-approve", action="store_true",
                   help="exercise mode only: acknowledge, answer and approve everything")
    p.add_argument("--key", type=Path, metavar="PATH",
                   help="signing key: an OpenSSH ed25519 private key, or a .pub whose key "
                        "is in ssh-agent (default: the key from `rescind keys init`)")
    p.add_argument("--email", metavar="EMAIL",
                   help="your email, when --key is not the key from `rescind keys init`")
    add_options(p)


ENV_PREFIX = "RESCIND_INPUT_"
INPUT_HELP = ("a runbook input; repeat for several. KEY=@FILE reads the value from a file, "
              "KEY=@- a line from standard input (@@ for a value starting with @); "
              f"an input not given is read from ${ENV_PREFIX}KEY, and a missing secret is "
              "asked for on the terminal (not echoed)")


def parse_inputs(pairs: list[str]) -> dict[str, str]:
    """``--input`` values; ``@FILE`` and ``@-`` keep a secret out of the command line
    (and so out of ``ps`` and the shell history)."""
    inputs: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            # Name only the key: the value may be a secret.
            raise UsageError(f"--input {key or '(no name)'}: is not KEY=VALUE",
                             fix="write it as --input ticket=IR-42")
        inputs[key.strip()] = _input_value(key.strip(), value)
    return inputs


def _input_value(name: str, value: str) -> str:
    if value.startswith("@@"):
        return value[1:]
    if value == "@-":
        line = sys.stdin.readline() if sys.stdin is not None else ""
        if not line:
            raise UsageError(f"--input {name}=@-: standard input is empty",
                             fix=f"pipe the value in: printf '%s\\n' VALUE | rescind ... "
                                 f"--input {name}=@-")
        return line.rstrip("\r\n")
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"--input {name}=@{path}: cannot read the file ({why})",
                             fix=f"check the path, or write --input {name}=@@... for a "
                                 "value that starts with @") from None
        # A file written by an editor or `echo` ends with a newline that is not the value.
        return text[:-1] if text.endswith("\n") else text
    return value


def complete_inputs(runbook: Any, given: dict[str, str], *, recorded: Any = (),
                    prompt: bool) -> dict[str, str]:
    """``given`` plus, for each declared input neither given nor ``recorded``, the value
    of $RESCIND_INPUT_<name>; then, when ``prompt`` and on a terminal, each secret
    input still missing (no default) asked for without echo."""
    import getpass

    values = dict(given)
    for name in runbook.inputs:
        if name not in values and name not in recorded and ENV_PREFIX + name in os.environ:
            values[name] = os.environ[ENV_PREFIX + name]
    if not prompt or not is_terminal(sys.stdin):
        return values
    for name, spec in runbook.inputs.items():
        if spec.secret and spec.default is None and name not in values and name not in recorded:
            about = f" ({spec.description})" if spec.description else ""
            answer = getpass.getpass(f"{name}{about}, secret, not echoed: ")
            if answer:
                values[name] = answer
    return values


def check_auto_approve(args: argparse.Namespace, mode: Mode) -> None:
    if args.auto_approve and mode is not Mode.EXERCISE:
        raise UsageError(f"--auto-approve is refused in {mode.value} mode: every change to a "
                         "real account needs a person's approval",
                         fix="drop --auto-approve, or use --mode exercise for a tabletop")


def wants_tui(args: argparse.Namespace) -> bool:
    # A stream started closed (`<&-`) is None: no terminal there either.
    return not args.no_tui and not args.auto_approve and is_terminal(sys.stdin) \
        and is_terminal(sys.stdout)


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (a stream started closed, ``<&-``, is None)."""
    return stream is not None and bool(stream.isatty())


def run(args: argparse.Namespace) -> int:
    from rescind.engine.session import SessionConfig
    from rescind.runbook.library import find_runbook
    from rescind.runbook.validate import load_and_validate

    mode = Mode(args.mode)
    check_auto_approve(args, mode)
    path = find_runbook(args.runbook)
    tui = wants_tui(args)  # the app asks for missing inputs in its own form
    runbook = load_and_validate(path).runbook
    inputs = complete_inputs(runbook, parse_inputs(args.input),
                             prompt=not tui and not args.auto_approve)
    config = SessionConfig(runbook=path, mode=mode,
                           inputs=inputs, out_dir=args.out, key=args.key,
                           email=args.email,
                           settings=session_settings(args), scenario=args.scenario)
    if tui:
        try:
            from rescind.commands.home import run_tui
        except ImportError:
            pass
        else:
            return run_tui(config)  # the app checks credentials itself, in its own words
    refuse_without_credentials(runbook, mode, config.settings)
    return asyncio.run(run_headless(config, auto=args.auto_approve))


def refuse_without_credentials(runbook: Any, mode: Mode, settings: Any) -> None:
    """Before the incident opens, as the app's start form does: a missing credential
    found only at the first cloud step, after manual steps, cannot be fixed in the
    running process."""
    from rescind.engine.identity import check_credentials

    bad = [who for who in check_credentials(runbook, mode, settings) if not who.ok]
    if bad:
        raise UsageError("cannot start without usable credentials: "
                         + "; ".join(f"{who.provider}: {who.problem}" for who in bad),
                         fix="`rescind config check` shows who rescind would act as once "
                             "fixed; --mode exercise needs none")


async def run_headless(config: Any, *, auto: bool) -> int:
    from rescind.engine.session import IncidentSession
    from rescind.headless import ExerciseResponder, TerminalResponder

    responder = ExerciseResponder() if auto else TerminalResponder()
    session = await IncidentSession.start(config, responder)
    return await drive(session, responder)


def _program() -> str:
    """How the user can call rescind again: by name if it is on PATH (e.g. make demo
    runs .venv/bin/rescind without activating the venv)."""
    if shutil.which("rescind") or not sys.argv[0].endswith("rescind"):
        return "rescind"
    return sys.argv[0]


def _quoted(path: Any) -> str:
    """A path as a shell word: an --out holding spaces, `;` or `$(…)` prints a command
    that does what it says."""
    return shlex.quote(str(path))


async def drive(session: Any, responder: Any) -> int:
    """Run a started or resumed session to its end and print where the record is."""
    from rescind.textsafe import visible

    say = responder.say
    folder = visible(session.incident_dir)
    say(f"incident {visible(session.incident_id)}  [{session.mode.banner}]  "
        f"{visible(session.runbook.title)}")
    say(f"record: {folder}")
    try:
        outcome = await session.run()
        if outcome != "completed":
            say(f"\nincident aborted; the record so far is in {folder}")
            say(f"resume with: {_quoted(_program())} resume {_quoted(session.incident_dir)}")
            return 1
        info = await session.close()
        report = session.verify()
        say("\nincident closed and sealed.")
        say(f"  report:    {info.report}")
        if (debrief := info.report.with_name("after-action.md")).is_file():  # exercises
            say(f"  debrief:   {debrief} (the score: rescind score "
                f"{_quoted(session.incident_dir)})")
        say(f"  manifest:  {info.sums}")
        say(f"  signature: {info.signature}")
        say(f"  {info.anchor.line}")
        say(f"record {'verified intact' if report.exit_code == 0 else 'NOT intact'}; "
            "anyone can check it with stock tools, from the incident folder:")
        say(f"  cd {_quoted(session.incident_dir)}")
        say(f"  {info.verify_command}")
        say("  sha256sum -c SHA256SUMS")
        say(f"or all at once: {_quoted(_program())} verify {_quoted(session.incident_dir)}")
        return 0 if report.exit_code == 0 else 1
    finally:
        session.shutdown()
