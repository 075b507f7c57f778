"""The Messages pane (issue 11): what the incident told whom, reached with `m`.

Exercise mode: notify.send delivers to the capture sink; the pane lists what the
journal holds, and the snapshot freezes how it reads.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from rescind.engine.session import SessionConfig
from rescind.modes import Mode
from rescind.tui.app import RescindApp
from rescind.tui.modals.approval import ApprovalModal
from rescind.tui.modals.help import HelpModal
from rescind.tui.modals.step_input import AcknowledgeModal
from rescind.tui.screens.incident import IncidentScreen
from rescind.tui.widgets.messages_pane import MessagesPane
from tests.tui.conftest import kinds, screen_named, text_of, wait_for
from tests.tui.test_approvals import _tab_to
from tests.tui.test_snapshots import Snap, _settle

RUNBOOK = """\
id: tui-notify
title: Tell the security team
severity: high
clouds: [notify]
phases:
  notify:
    - id: tell_security
      action: notify.send
      with:
        to: [security]
        message: "Key AKIAIOSFODNN7EXAMPLE of deploy-bot leaked; it is deactivated."
    - id: check
      manual: Check that the security team has the message.
"""
SETTINGS = {"notify": {
    "recipients": {"sec-slack": {"channel": "slack", "to": "#security"},
                   "sec-mail": {"channel": "email", "to": "security@example.com"}},
    "routes": {"security": {"high": ["sec-slack", "sec-mail"]}}}}


@pytest.fixture
def notify_env(identity: None, workdir: Path, frozen: datetime,
               monkeypatch: pytest.MonkeyPatch) -> Path:
    """As the snapshots' environment: frozen clock and ids, no toasts, an empty library."""
    monkeypatch.setattr("rescind.runbook.library.runbook_dirs", lambda: [Path("runbooks")])
    monkeypatch.setattr(RescindApp, "notify", lambda self, *args, **kwargs: None)
    (workdir / "tui-notify.yaml").write_text(RUNBOOK)
    return workdir


def _config() -> SessionConfig:
    return SessionConfig(runbook=Path("tui-notify.yaml"), mode=Mode.EXERCISE,
                         out_dir=Path("incidents"), settings=SETTINGS)


async def _to_messages(pilot: Pilot[Any]) -> MessagesPane:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the plan")
    # Irreversible, so Later has the focus: Tab to Approve, then Enter.
    await _tab_to(pilot, "approve")
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, AcknowledgeModal), "the manual step")
    await pilot.press("escape")
    await wait_for(pilot, screen_named(pilot, "IncidentScreen"), "the incident screen")
    pane = app.screen.query_one(MessagesPane)
    await wait_for(pilot, lambda: len(pane.messages) == 2, "the two captured messages")
    await pilot.press("m")
    await wait_for(pilot, lambda: pane.display and pane.has_focus, "the Messages pane")
    return pane


async def test_m_shows_every_captured_message_and_help_lists_it(notify_env: Path) -> None:
    app = RescindApp(start=_config())
    async with app.run_test(size=(120, 40)) as pilot:
        # While the plan waits for approval nothing was sent: m cannot act yet.
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the plan")
        screen = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
        assert not screen.check_action("messages", ())
        pane = await _to_messages(pilot)
        shown = text_of(pane.query_one("#messages-list"))
        assert "Messages (2): 2 captured" in shown
        assert "slack → #security (sec-slack)" in shown
        assert "email → security@example.com (sec-mail)" in shown
        assert "Key AKIAIOSFODNN7EXAMPLE of deploy-bot leaked" in shown
        assert "captured (exercise: not sent)" in shown
        # The pane lists what the journal holds, nothing more or less.
        incident_dir = screen.session.incident_dir
        journaled = kinds(incident_dir, "notify.message", status="captured")
        assert sorted(m["recipient"] for m in journaled) == ["sec-mail", "sec-slack"]
        # Help and the footer list the key.
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpModal), "help")
        helped = "\n".join(text_of(w) for w in app.screen.query("Static"))
        assert "Messages" in helped
        await pilot.press("escape")
        await wait_for(pilot, screen_named(pilot, "IncidentScreen"), "the incident screen")
        footer = {key for key, active in app.screen.active_bindings.items()
                  if active.binding.show and active.enabled}
        assert "m" in footer
        # m again: back to the step detail.
        await pilot.press("m")
        await wait_for(pilot, lambda: not pane.display, "the step detail again")


def test_messages_pane_snapshot(snap_compare: Snap, notify_env: Path) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await _to_messages(pilot)
        await _settle(pilot)

    assert snap_compare(RescindApp(start=_config()), terminal_size=(120, 40), run_before=ready)
