"""Regenerate screenshots/*.svg and *.png from the real app on the AWS exercise.

Drives the app the way a responder does (run_test + key presses), against the
simulated cloud, and saves each screen with save_screenshot. PNGs are converted
with cairosvg (the dev extra; it needs the system's libcairo2), or rsvg-convert
when that is installed instead. Nothing is drawn by hand.

    .venv/bin/python scripts/screenshots.py [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNBOOKS = ROOT / "runbooks"
AWS = RUNBOOKS / "aws-access-key-compromise.yaml"
TABLETOP = RUNBOOKS / "example-tabletop.yaml"
KEY = "AKIAIOSFODNN7EXAMPLE"  # the leaked key of the exercise scenario
SIZE = (120, 40)


def isolate(tmp: Path) -> None:
    """A throwaway signing identity and incident folder; never the user's own."""
    import keyring
    from keyring.backends.fail import Keyring as NoKeyring

    os.environ.update(RESCIND_CONFIG_DIR=str(tmp / "config"), AWS_EC2_METADATA_DISABLED="true",
                      NO_GCE_CHECK="true", RESCIND_RUNBOOK_PATH=str(RUNBOOKS))
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SSH_AUTH_SOCK",
                "NO_COLOR"):
        os.environ.pop(var, None)
    keyring.set_keyring(NoKeyring())  # the key goes to a file in the temp config
    os.chdir(tmp)
    from rescind.record.keys import init_key

    init_key("Dana Responder", "dana@example.com")


async def until(pilot: Any, condition: Callable[[], object], what: str,
                timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise SystemExit(f"screenshots: gave up waiting for {what} "
                             f"(screen: {type(pilot.app.screen).__name__})")
        await pilot.pause(0.05)


def on(pilot: Any, name: str, step: str | None = None) -> Callable[[], bool]:
    def check() -> bool:
        screen = pilot.app.screen
        if type(screen).__name__ != name:
            return False
        if step is None:
            return True
        request = getattr(screen, "request", None)
        current = request.step if request is not None else getattr(screen, "step", None)
        return current is not None and current.id == step
    return check


async def focus(pilot: Any, widget_id: str) -> None:
    for _ in range(8):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise SystemExit(f"screenshots: cannot reach #{widget_id} with Tab")


async def answer(pilot: Any) -> str:
    """Handle the dialog on top the way a responder would; return its kind."""
    screen = pilot.app.screen
    kind = type(screen).__name__
    if kind == "ApprovalModal":
        if screen.policy.value == "type-name":  # the name field has the focus
            await pilot.press(*screen.request.expected_names[0], "enter")
        else:
            await focus(pilot, "approve")
            await pilot.press("enter")
    elif kind == "AcknowledgeModal":
        await pilot.press("n", *"done, see ticket", "enter")
    elif kind == "AnswerModal":
        await pilot.press("enter")
    elif kind == "SecretModal":
        await focus(pilot, "done")
        await pilot.press("enter")
    elif kind == "FailureModal":
        raise SystemExit(f"screenshots: step {screen.step.id} failed: {screen.error}")
    return kind


DIALOGS = ("ApprovalModal", "AcknowledgeModal", "AnswerModal", "SecretModal", "FailureModal")


async def answer_until(pilot: Any, done: Callable[[], bool]) -> None:
    seen: set[int] = set()
    while not done():
        await until(pilot, lambda: done() or (type(pilot.app.screen).__name__ in DIALOGS
                                              and id(pilot.app.screen) not in seen),
                    "the next dialog")
        if done():
            return
        seen.add(id(pilot.app.screen))
        await focused(pilot)
        await answer(pilot)


async def focused(pilot: Any) -> None:
    """Textual focuses a dialog after mounting it: keys pressed before go nowhere."""
    app = pilot.app
    await until(pilot, lambda: app.focused is not None and app.focused.screen is app.screen,
                "the dialog's focus")


async def settle(pilot: Any) -> None:
    await pilot.pause(0.3)
    pilot.app.clear_notifications()
    await pilot.pause(0.1)


# The small terminal without colour: the screens a responder acts on (docs/screens.md).
SMALL = ((80, 24), "-80x24-nocolor", ("incident", "timeline", "approval"))


async def shoot_incident(out: Path, size: tuple[int, int] = SIZE, suffix: str = "",
                         only: tuple[str, ...] | None = None) -> list[Path]:
    from rescind.engine.session import SessionConfig
    from rescind.modes import Mode
    from rescind.tui.app import RescindApp

    config = SessionConfig(runbook=AWS, mode=Mode.EXERCISE, inputs={"access_key_id": KEY},
                           out_dir=Path("incidents"))
    app = RescindApp(start=config)
    shots: list[Path] = []

    def save(name: str) -> None:
        if only is None or name in only:
            shots.append(Path(app.save_screenshot(f"{name}{suffix}.svg", path=str(out))))

    async with app.run_test(size=size) as pilot:
        # Contain, up to the manual review; hide it and look back at the deactivation.
        await answer_until(pilot, on(pilot, "AcknowledgeModal", "review"))
        for _ in range(5):  # Escape hides it (a key may land before the dialog listens)
            await focused(pilot)
            await pilot.press("escape")
            await pilot.pause(0.5)
            if on(pilot, "IncidentScreen")():
                break
        await until(pilot, on(pilot, "IncidentScreen"), "the incident screen")
        steps = app.screen.query_one("#step-list")
        for _ in range(12):
            if steps.selected_step is not None and steps.selected_step.id == "deactivate":
                break
            await pilot.press("up")
        await settle(pilot)
        save("incident")
        # The blast radius at that point: the key and its user contained, what it created not.
        await pilot.press("b")
        await settle(pilot)
        save("blast-radius")
        await pilot.press("b")
        await pilot.press("question_mark")
        await until(pilot, on(pilot, "HelpModal"), "help")
        await settle(pilot)
        save("help")
        await pilot.press("escape")

        # What the review asks for: the timeline the key left, filtered to what it created.
        await pilot.press("t")
        await until(pilot, on(pilot, "TimelineScreen"), "the timeline")
        timeline = app.screen
        await until(pilot, lambda: len(timeline.rows), "events")
        await pilot.press("slash", *"source:cloudtrail action:create", "enter")
        await settle(pilot)
        save("timeline")
        await pilot.press("escape")
        await until(pilot, on(pilot, "IncidentScreen"), "the incident screen")
        await pilot.press("enter")  # bring the review back

        # On to the irreversible delete: the typed confirmation, name typed, not sent.
        await answer_until(pilot, on(pilot, "ApprovalModal", "delete_key"))
        await focused(pilot)
        await pilot.press(*KEY)
        await settle(pilot)
        save("approval")
        await pilot.press("enter")

        # Finish, close, and the record with the stock-tool commands.
        await answer_until(pilot, on(pilot, "ConfirmModal"))
        await focused(pilot)
        await pilot.press("enter")
        await until(pilot, on(pilot, "RecordScreen"), "the record")
        record = app.screen
        await until(pilot, lambda: record.report is not None, "verification")
        await settle(pilot)
        save("record")

    return shots


async def seed_interrupted() -> None:
    """A tabletop left half-way, so home shows an incident to resume."""
    from rescind.engine.session import IncidentSession, SessionConfig
    from rescind.modes import Mode
    from rescind.tui.responder import TuiResponder

    config = SessionConfig(runbook=TABLETOP, mode=Mode.EXERCISE, out_dir=Path("incidents"))
    session = await IncidentSession.start(config, TuiResponder(lambda r: None, lambda e: None))
    session.shutdown()


async def shoot_home(out: Path) -> list[Path]:
    from rescind.tui.app import RescindApp

    await seed_interrupted()
    shots = []
    for size, name in ((SIZE, "home"), ((80, 24), "home-80x24")):
        app = RescindApp()
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda app=app: len(getattr(app.screen, "incidents", [])) >= 2
                        and getattr(app.screen, "runbooks", None), "home's lists")
            await settle(pilot)
            shots.append(Path(app.save_screenshot(f"{name}.svg", path=str(out))))
    return shots


def to_png(svg: Path) -> Path | None:
    """Render with a font the machine has: Textual's SVG asks for Fira Code from the web."""
    text = svg.read_text().replace("Fira Code, monospace", "DejaVu Sans Mono, monospace")
    text = text.replace('"Fira Code"', '"DejaVu Sans Mono"')
    # DejaVu Sans Mono is 0.602 em wide, Textual lays cells out 12.2 units apart.
    text = re.sub(r"(-matrix \{[^}]*)font-size: 20px;", r"\g<1>font-size: 20.26px;", text)
    png = svg.with_suffix(".png")
    try:
        import cairosvg
    except (ImportError, OSError):
        converter = shutil.which("rsvg-convert")
        if converter is None:
            return None
        subprocess.run([converter, "-z", str(20 / 12.2), "-o", str(png)], input=text.encode(),
                       check=True)
        return png
    # A scale that makes each cell a whole number of pixels keeps the columns aligned.
    cairosvg.svg2png(bytestring=text.encode(), write_to=str(png), scale=20 / 12.2)
    return png


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory(prefix="rescind-shots-") as tmp:
        isolate(Path(tmp))
        shots = asyncio.run(shoot_incident(out))
        shots += asyncio.run(shoot_home(out))
        small, suffix, only = SMALL
        os.environ["NO_COLOR"] = "1"
        shots += asyncio.run(shoot_incident(out, small, suffix, only))
    for svg in shots:
        png = to_png(svg)
        print(f"{svg.relative_to(ROOT) if svg.is_relative_to(ROOT) else svg}"
              + (f"  {png.name}" if png else "  (no PNG: pip install cairosvg)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
