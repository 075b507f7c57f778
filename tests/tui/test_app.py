"""Help, the command palette, NO_COLOR, and the responder bridge's coalescing."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.widgets import Static

from rescind.engine.responder import EngineEvent, EventKind, StepState
from rescind.engine.session import SessionConfig
from rescind.modes import Mode
from rescind.tui.app import RescindApp
from rescind.tui.modals.approval import ApprovalModal
from rescind.tui.responder import Request, TuiResponder
from rescind.tui.screens.home import EXERCISE_RUNBOOKS
from rescind.tui.screens.incident import IncidentScreen
from tests.tui import drill
from tests.tui.conftest import screen_named, text_of, wait_for


async def test_help_lists_every_key_of_the_incident_screen(identity: None, workdir: Path,
                                                           drill_cloud: Path) -> None:
    config = SessionConfig(runbook=drill.RUNBOOK, mode=Mode.EXERCISE,
                           inputs={"ticket": "IR-1"}, out_dir=Path("incidents"))
    app = RescindApp(start=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval")
        await pilot.press("escape")  # hide it; the engine keeps waiting
        incident = app.screen
        assert isinstance(incident, IncidentScreen) and incident.runner.pending is not None
        await pilot.press("f1")
        await wait_for(pilot, screen_named(pilot, "HelpModal"), "help")
        shown = "\n".join(text_of(s, 120) for s in app.screen.query(Static))
        bindings = [b for cls in (IncidentScreen, RescindApp)
                    for b in cls.BINDINGS if isinstance(b, Binding)]
        for binding in bindings:
            assert binding.description in shown, binding
        assert "Step list" in shown and "Respond" in shown
        await pilot.press("escape")
        await pilot.press("enter")  # Enter brings the hidden approval back
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval")


async def test_palette_offers_runbooks_and_starts_one(identity: None, workdir: Path,
                                                      drill_cloud: Path) -> None:
    app = RescindApp()
    async with app.run_test(size=(100, 30)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: getattr(home, "runbooks", None), "runbooks")
        names = [item.name for item in home.palette_items()]
        assert "Start an exercise" in names and "Start runbook: TUI drill" in names
        await pilot.press("ctrl+p")
        await wait_for(pilot, screen_named(pilot, "CommandPalette"), "the palette")
        await pilot.press(*"runbook: TUI drill")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, screen_named(pilot, "InputsForm"), "the inputs form")
        assert app.screen.runbook.id == "tui-drill"


async def test_e_starts_the_exercise_runbook(identity: None, workdir: Path) -> None:
    app = RescindApp()
    async with app.run_test(size=(100, 30)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: getattr(home, "runbooks", None), "runbooks")
        await pilot.press("e")
        await wait_for(pilot, screen_named(pilot, "InputsForm"), "the inputs form")
        form = app.screen
        assert form.runbook.id in EXERCISE_RUNBOOKS and form.chosen_mode is Mode.EXERCISE


async def test_no_color_keeps_the_mode_word(identity: None, workdir: Path, drill_cloud: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    config = SessionConfig(runbook=drill.SLOW_RUNBOOK, mode=Mode.EXERCISE,
                           out_dir=Path("incidents"))
    app = RescindApp(start=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval")
        assert app.no_color
        incident = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
        assert "EXERCISE" in text_of(incident.query_one("#mode-banner", Static))


async def test_responder_coalesces_bursts_and_hops_threads() -> None:
    batches: list[list[EngineEvent]] = []
    requests: list[Request] = []
    responder = TuiResponder(requests.append, batches.append)
    for n in range(100):
        responder.event(EngineEvent(EventKind.PROGRESS, {"done": n}))
    thread = threading.Thread(target=responder.event,
                              args=(EngineEvent(EventKind.PROGRESS, {"done": 100}),))
    thread.start()
    thread.join()
    deadline = time.monotonic() + 30
    while not batches:  # the flush is scheduled on this loop: wait for it, not for time
        assert time.monotonic() < deadline, "the burst was never delivered"
        await asyncio.sleep(0.005)
    assert [len(b) for b in batches] == [101]

    step = StepState(id="s", phase="contain", kind="prompt", title="s")
    answer = asyncio.create_task(responder.answer(step, None, False))
    await asyncio.sleep(0)
    first = requests[-1]
    first.resolve("bad")
    assert await answer == "bad"
    responder.event(EngineEvent(EventKind.WARNING, {"message": "the answer must match ^X$"}))
    again = asyncio.create_task(responder.answer(step, None, False))
    await asyncio.sleep(0)
    assert requests[-1].refusal == "the answer must match ^X$"
    requests[-1].resolve("X")
    assert await again == "X"
    assert responder.pending is None


async def test_keymap_file_remaps_a_binding_by_id(identity: None, workdir: Path,
                                                  _isolated_config: Path) -> None:
    (_isolated_config / "keymap.json").write_text('{"home.filter": "f3"}')
    app = RescindApp()
    async with app.run_test(size=(100, 30)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: getattr(home, "runbooks", None), "runbooks")
        await pilot.press("f3")
        assert app.focused is not None and app.focused.id == "library-filter"


async def test_exercise_form_is_filled_from_the_scenario_and_shows_patterns_verbatim(
        identity: None, workdir: Path) -> None:
    from textual.widgets import Input

    app = RescindApp()
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: getattr(home, "runbooks", None), "runbooks")
        await pilot.press("e")
        await wait_for(pilot, screen_named(pilot, "InputsForm"), "the inputs form")
        form = app.screen
        field = form.query_one("#in-access_key_id", Input)
        assert field.value == "AKIAIOSFODNN7EXAMPLE"  # from the scenario's inputs
        field.value = "not-a-key"
        await pilot.pause(0.2)
        problem = text_of(form.query_one("#problem-access_key_id", Static), 120)
        assert "must match ^AKIA[A-Z0-9]{16}$" in problem  # brackets are not markup


async def test_palette_shows_names_and_help_as_typed(identity: None, workdir: Path) -> None:
    from textual.content import Content

    from rescind.tui.palette import PaletteItem, RescindCommands

    item = PaletteItem("Start runbook: [bold]leak[/bold] ^AKIA[A-Z0-9]{16}$",
                       "answer was [redacted] · [A-Z]", lambda: None)
    app = RescindApp()
    async with app.run_test(size=(100, 30)):
        home = app.screen
        home.palette_items = lambda: [item]  # type: ignore[attr-defined]
        provider = RescindCommands(home)
        found = [hit async for hit in provider.discover()]
        found += [hit async for hit in provider.search("AKIA")]
        assert len(found) == 2
        for hit in found:
            # The palette reads a string prompt and the help as markup.
            assert Content.from_markup(hit.prompt).plain == item.name  # type: ignore[arg-type]
            assert Content.from_markup(hit.help or "").plain == item.help


async def test_palette_drops_screenshot_and_theme_and_j_k_move_in_lists(
        identity: None, workdir: Path) -> None:
    """Issue 16: Textual's "Screenshot" fails here and "Theme" can repaint LIVE's red;
    j/k move in every list, not only the timeline."""
    app = RescindApp()
    async with app.run_test(size=(100, 30)) as pilot:
        home = app.screen
        titles = [c.title for c in app.get_system_commands(home)]
        assert titles and "Screenshot" not in titles and "Theme" not in titles, titles
        await wait_for(pilot, lambda: len(getattr(home, "runbooks", [])) > 2, "runbooks")
        runbooks = home.query_one("#runbooks")
        await wait_for(pilot, lambda: runbooks.highlighted == 0, "the first runbook")
        await pilot.press("j", "j")
        assert runbooks.highlighted == 2
        await pilot.press("k")
        assert runbooks.highlighted == 1
