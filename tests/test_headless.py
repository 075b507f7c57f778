"""The headless front end's words for what happened to a step."""

from __future__ import annotations

import io

import pytest

from rescind.engine.responder import StepState
from rescind.errors import ActionError
from rescind.headless import TerminalResponder


@pytest.mark.parametrize(("kind", "verdict", "not_said"),
                         [("declined", "DECLINED revoke", "FAILED"),
                          ("permission", "FAILED revoke", "DECLINED")])
async def test_a_declined_plan_reads_declined_not_failed(
        monkeypatch: pytest.MonkeyPatch, kind: str, verdict: str, not_said: str) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO("s\nnot today\n"))
    step = StepState(id="revoke", phase="contain", kind="action", title="Revoke")
    choice = await TerminalResponder(out).on_failure(
        step, ActionError("the responder declined the plan", kind=kind))
    assert choice.choice == "skip" and choice.reason == "not today"
    assert verdict in out.getvalue() and not_said not in out.getvalue()
