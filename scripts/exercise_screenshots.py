"""Regenerate the exercise screenshots (docs/exercises.md) from the real app.

The AWS exercise with its injects: the facilitator's dialog after an `advance`, then
the record screen of the closed exercise with its score. Same helpers and PNG
conversion as scripts/screenshots.py; nothing is drawn by hand.

    .venv/bin/python scripts/exercise_screenshots.py [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots import (
    AWS,
    DIALOGS,
    KEY,
    ROOT,
    SIZE,
    answer_until,
    isolate,
    on,
    settle,
    to_png,
    until,
)


async def shoot_exercise(out: Path) -> list[Path]:
    from textual.widgets import Input

    from rescind.engine.session import SessionConfig
    from rescind.modes import Mode
    from rescind.tui.app import RescindApp

    config = SessionConfig(runbook=AWS, mode=Mode.EXERCISE, inputs={"access_key_id": KEY},
                           out_dir=Path("incidents"))
    app = RescindApp(start=config)
    shots: list[Path] = []
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ in DIALOGS
                    and app.focused is not None and app.focused.screen is app.screen,
                    "the first dialog")
        incident = app.screen_stack[-2]
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is incident, "the incident screen")
        await pilot.press("f")
        await until(pilot, on(pilot, "FacilitatorModal"), "the facilitator")
        modal = app.screen
        outcome = modal.query_one("#facilitator-outcome")
        modal.query_one("#facilitator-command", Input).value = "advance +11m"
        await pilot.press("enter")
        await until(pilot, lambda: "fired" in str(outcome.render()), "the advance")
        modal.query_one("#facilitator-command", Input).value = "note nobody pulled the timeline"
        await settle(pilot)
        shots.append(Path(app.save_screenshot("facilitator.svg", path=str(out))))
        await pilot.press("enter", "escape")
        await until(pilot, lambda: app.screen is incident, "the incident screen")
        await pilot.press("enter")  # the waiting dialog again
        await answer_until(pilot, on(pilot, "ConfirmModal"))
        await pilot.press("enter")
        await until(pilot, on(pilot, "RecordScreen"), "the record")
        record = app.screen
        await until(pilot, lambda: record.report is not None
                    and record.query_one("#record-score-box").display, "the score")
        await settle(pilot)
        shots.append(Path(app.save_screenshot("after-action-score.svg", path=str(out))))
    return shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory(prefix="rescind-shots-") as tmp:
        isolate(Path(tmp))
        shots = asyncio.run(shoot_exercise(out))
    for svg in shots:
        png = to_png(svg)
        print(f"{svg}" + (f"  {png.name}" if png else "  (no PNG: pip install cairosvg)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
