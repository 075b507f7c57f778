"""Count the keystrokes of the leaked-AWS-key exercise, played at best from the home screen.

Drives the real app (run_test) against the simulated cloud, the way a responder who
knows the app does: `e` on home, Start, then each dialog answered with the fewest
keys the app allows (Tab presses to reach a button count, every typed character
counts). Prints the total and the count per dialog kind, so a change to the app's
ergonomics shows as a number (issue 16 asks for it before and after).

    PYTHONPATH=src .venv/bin/python scripts/exercise_keys.py
"""

from __future__ import annotations

import asyncio
import collections
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from screenshots import DIALOGS, focused, isolate, until  # noqa: E402

NOTE_ANSWER = "n/a"  # what a responder types into a question without a default


class Counter:
    def __init__(self, pilot: Any) -> None:
        self.pilot = pilot
        self.total = 0
        self.by_kind: collections.Counter[str] = collections.Counter()
        self.kind = "start"

    async def press(self, *keys: str) -> None:
        self.total += len(keys)
        self.by_kind[self.kind] += len(keys)
        await self.pilot.press(*keys)

    async def focus(self, widget_id: str) -> None:
        for _ in range(10):
            focused = self.pilot.app.focused
            if focused is not None and focused.id == widget_id:
                return
            await self.press("tab")
        raise SystemExit(f"exercise_keys: cannot reach #{widget_id} with Tab")


async def answer(keys: Counter) -> None:
    from textual.widgets import Input

    screen = keys.pilot.app.screen
    kind = type(screen).__name__
    keys.kind = kind
    if kind == "ApprovalModal":
        if screen.policy.value == "type-name":
            await keys.focus("typed")
            await keys.press(*screen.request.expected_names[0], "enter")
        else:
            await keys.focus("approve")
            await keys.press("enter")
    elif kind == "AcknowledgeModal":
        if screen.query("#done Checkbox, Checkbox#done"):  # the old tick box
            await keys.press("space")
            await keys.focus("note")
        await keys.press("enter")
    elif kind == "AnswerModal":
        field = screen.query_one("#answer", Input)
        if not field.value and not screen.default:
            await keys.press(*NOTE_ANSWER)
        await keys.press("enter")
    elif kind == "SecretModal":
        await keys.focus("done")
        await keys.press("enter")
    elif kind == "FailureModal":
        raise SystemExit(f"exercise_keys: step {screen.step.id} failed: {screen.error}")


async def play() -> Counter:
    from rescind.tui.app import RescindApp

    app = RescindApp()
    async with app.run_test(size=(120, 40)) as pilot:
        keys = Counter(pilot)
        await until(pilot, lambda: getattr(app.screen, "runbooks", None), "the library")
        await keys.press("e")
        await until(pilot, lambda: type(app.screen).__name__ == "InputsForm", "the form")
        keys.kind = "InputsForm"
        await keys.press("enter")
        seen: set[int] = set()

        def next_dialog() -> bool:
            name = type(app.screen).__name__
            return name == "ConfirmModal" or (name in DIALOGS and id(app.screen) not in seen)

        while True:
            await until(pilot, next_dialog, "the next dialog", timeout=120)
            if type(app.screen).__name__ == "ConfirmModal":
                keys.kind = "close"
                await focused(pilot)
                await keys.press("enter")
                await until(pilot, lambda: type(app.screen).__name__ == "RecordScreen",
                            "the record")
                return keys
            seen.add(id(app.screen))
            await focused(pilot)  # keys sent before Textual focuses the dialog go nowhere
            await answer(keys)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="rescind-keys-") as tmp:
        isolate(Path(tmp))
        keys = asyncio.run(play())
    print(f"leaked-key exercise, home to sealed record: {keys.total} keys")
    for kind, count in sorted(keys.by_kind.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:<16} {count}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
