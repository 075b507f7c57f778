"""The cockpit at 3 a.m. (issue 16): approvals that cannot misfire, keys that always answer.

Each test drives the app with the keyboard and checks what the drill cloud and the
journal hold afterwards, not only what the screen says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Static

from rescind.engine.identity import Identity
from rescind.engine.responder import StepStatus
from rescind.engine.session import SessionConfig
from rescind.modes import Mode
from rescind.tui.app import RescindApp
from rescind.tui.modals.approval import ApprovalModal
from rescind.tui.screens.incident import IncidentScreen
from rescind.tui.widgets.header import IncidentHeader
from rescind.tui.widgets.steps import step_prompt
from tests.tui import drill
from tests.tui.conftest import kinds, screen_named, text_of, wait_for


def _config() -> SessionConfig:
    return SessionConfig(runbook=drill.RUNBOOK, mode=Mode.EXERCISE, inputs={"ticket": "IR-9"},
                         out_dir=Path("incidents"))


def _approval(pilot: Pilot[Any], step: str) -> Any:
    return lambda: isinstance(pilot.app.screen, ApprovalModal) \
        and pilot.app.screen.request.step.id == step


async def test_escape_never_declines_and_a_decline_reads_declined(
        identity: None, workdir: Path, drill_cloud: Path, toasts: list[str]) -> None:
    app = RescindApp(start=_config())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, _approval(pilot, "disable-key"), "the approval")
        incident = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
        incident_dir = incident.session.incident_dir

        # Escape only puts it aside: nothing journaled, the engine still waits.
        await pilot.press("escape")
        assert app.screen is incident and incident.runner.pending is not None
        assert not kinds(incident_dir, "action.approval")

        # Keys that cannot act right now say why instead of doing nothing.
        await pilot.press("x", "u")
        assert any("can close once every phase is done" in t for t in toasts), toasts
        assert any("Nothing to resume" in t for t in toasts), toasts

        # Enter brings it back; t looks at the timeline and the approval returns after.
        await pilot.press("enter")
        await wait_for(pilot, _approval(pilot, "disable-key"), "the approval again")
        await pilot.press("t")
        await wait_for(pilot, screen_named(pilot, "TimelineScreen"), "the timeline")
        await pilot.press("escape")
        await wait_for(pilot, _approval(pilot, "disable-key"), "the approval after t")
        await pilot.press("question_mark")
        await wait_for(pilot, screen_named(pilot, "HelpModal"), "help over the approval")
        shown = "\n".join(text_of(s, 120) for s in app.screen.query("Static"))
        assert "Decline" in shown and "Later" in shown
        await pilot.press("escape")
        await wait_for(pilot, _approval(pilot, "disable-key"), "the approval after help")
        assert not kinds(incident_dir, "action.approval")

        # Declining is explicit and needs a reason, which is journaled.
        await pilot.press("d")
        await pilot.press("enter")  # no reason yet: nothing happens
        assert isinstance(app.screen, ApprovalModal)
        await pilot.press(*"checking with the owner first", "enter")
        await wait_for(pilot, screen_named(pilot, "FailureModal"), "the declined dialog")
        assert "Plan declined" in text_of(app.screen.query_one(".dialog-title"))
        state = next(s for s in incident.session.steps if s.id == "disable-key")
        assert state.status is StepStatus.DECLINED
        assert "⊘" in step_prompt(state).plain
        await pilot.press("escape")
        shown = text_of(incident.query_one("#detail-head"))
        assert "declined" in shown and "failed" not in shown
    declined = kinds(incident_dir, "action.approval", step="disable-key", approved=False)
    assert [d["reason"] for d in declined] == ["checking with the owner first"]
    assert drill.load()["keys"]["AKIAIOSFODNN7EXAMPLE"] == "Active"


async def test_typing_into_a_high_risk_approval_approves(identity: None, workdir: Path,
                                                         drill_cloud: Path) -> None:
    app = RescindApp(start=_config())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, _approval(pilot, "disable-key"), "the first approval")
        await pilot.press("enter")  # reversible: Approve has the focus
        await wait_for(pilot, _approval(pilot, "delete-backdoor"), "the typed confirmation")
        # No Tab: the name field has the focus, so the typed name lands there.
        await pilot.press(*"backup-admin", "enter")
        await wait_for(pilot, screen_named(pilot, "FailureModal"), "the next step")
    assert "backup-admin" not in drill.load()["users"]
    assert drill.load()["keys"]["AKIAIOSFODNN7EXAMPLE"] == "Inactive"


async def test_checkpoints_show_in_the_header_and_the_anchor_copies(
        identity: None, workdir: Path, drill_cloud: Path, toasts: list[str]) -> None:
    app = RescindApp(start=_config())
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, _approval(pilot, "disable-key"), "the approval")
        await pilot.press("enter")
        incident = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
        # The outcome is said in words. (Waited for: the opening checkpoint alone already
        # sets anchor_line, so waiting for that raced the step's outcome.)
        await wait_for(pilot, lambda: any(
            "AKIAIOSFODNN7EXAMPLE status is now Inactive, verified" in t for t in toasts),
            "the outcome in words")
        assert incident.anchor_line is not None
        assert "signed at seq" in text_of(incident.query_one("#header-ids"))
        assert not any(t.startswith("ANCHOR") for t in toasts), "no anchor toasts"
        await wait_for(pilot, _approval(pilot, "delete-backdoor"), "the typed confirmation")
        await pilot.press("escape", "a")
        assert copied == [incident.anchor_line]


class _HeaderOnly(App[None]):
    CSS_PATH = RescindApp.CSS_PATH

    def compose(self) -> ComposeResult:
        yield IncidentHeader()


async def test_the_header_says_who_rescind_acts_as_in_one_row_at_80x24() -> None:
    arn = "arn:aws:iam::123456789012:user/responder"
    found = [Identity("aws", "account 123456789012 (credential chain)", arn)] + [
        Identity("notify", f"recipient {name}", f"email {name}@example.com (exercise: "
                 "captured, no secret read)") for name in ("oncall", "security", "legal")]
    app = _HeaderOnly()
    async with app.run_test(size=(80, 24)) as pilot:
        header = app.query_one(IncidentHeader)
        row = header.query_one("#header-identity", Static)
        header.show_identities(found)
        await pilot.pause()
        shown = text_of(row, 78).rstrip("\n")
        # k9s's context line: one row, the cloud's account and identity, the recipients
        # counted.
        assert row.size.height == 1 and "\n" not in shown, shown
        assert shown == "aws account 123456789012 as user/responder  notify: 3 recipients", \
            shown
        await pilot.resize_terminal(160, 24)
        await wait_for(pilot, lambda: arn in text_of(row, 158), "the whole ARN when it fits")
        assert "notify: 3 recipients" in text_of(row, 158) and row.size.height == 1
        # A problem is shown whole, with its fix, even if it takes more rows.
        problem = "no credentials (fix: set [aws] profile in rescind.toml)"
        header.show_identities([Identity("aws", problem=problem), *found[1:]])
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: row.size.height > 1, "the problem wrapped")
        assert problem in " ".join(text_of(row, 200).split())
