"""The headless runner prints what a runbook, a plan or a cloud says with every control
and bidi character made visible, and warns before a name is typed that can imitate
another."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest

from rescind.actions.base import Change, Plan, Risk
from rescind.commands.run import drive
from rescind.engine.responder import Approval, ApprovalRequest, StepState
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.errors import ActionError
from rescind.headless import ExerciseResponder, TerminalResponder
from rescind.modes import Mode
from tests.engine.conftest import write_runbook

# Retitle the window, clear the screen, reorder text, erase the line above, hide text.
ESC = r"\e]0;owned\a \e[2J \u202e \e[1A\e[2K \e[8m"
RAW = ("\x1b", "\x07", "\u202e")


def _clean(text: str) -> None:
    for char in RAW:
        assert char not in text, f"{char!r} reached the terminal"


async def test_runbook_strings_are_printed_visibly(tmp_path: Path, identity: None) -> None:
    runbook = write_runbook(tmp_path / "rb.yaml", f"""\
id: hostile
title: "Title {ESC}"
inputs:
  who: {{default: "x {ESC}"}}
phases:
  contain:
    - id: tick
      name: "Step {ESC}"
      manual: "Do it {ESC}\\nsecond line"
    - id: ask
      prompt: "Question {ESC}"
      default: "Default {ESC}"
    - id: say
      note: "Note ${{{{ inputs.who }}}}"
""")
    out = io.StringIO()
    responder = ExerciseResponder(out)
    session = await IncidentSession.start(SessionConfig(
        runbook=runbook, mode=Mode.EXERCISE, out_dir=tmp_path / "my incidents; $(rm -rf ~)",
        providers={}), responder)
    assert await drive(session, responder) == 0
    text = out.getvalue()
    _clean(text)
    assert "Title \\x1b]0;owned\\x07 \\x1b[2J \\u202e" in text
    assert "Step \\x1b]0;owned" in text and "Do it \\x1b]0;owned" in text
    assert "Default \\x1b]0;owned" in text
    folder = str(session.incident_dir)
    assert f"  cd '{folder}'" in text.splitlines()
    assert any(line.endswith(f" verify '{folder}'") for line in text.splitlines())


def _plan(**fields: Any) -> Plan:
    base: dict[str, Any] = dict(
        action="aws.iam.deactivate_access_keys", step_id="revoke", risk=Risk.HIGH,
        reversible=True, mutating=True, params={}, summary="Deactivate \x1b]0;owned\x07",
        targets=["dеploy-bot"],
        changes=[Change(target="dеploy-bot\x1b[8m", field="Status", before="Active",
                        after="Inactive\x1b[1A\x1b[2K")],
        warnings=["careful \u202e"])
    return Plan(**(base | fields))


async def test_terminal_approval_shows_the_plan_visibly_and_warns_about_the_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _plan()
    out = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO("dеploy-bot\n"))
    step = StepState(id="revoke", phase="contain", kind="action", title="Revoke \x1b[2J")
    answer = await TerminalResponder(out).approve(ApprovalRequest(
        step=step, plan=plan, policy=Approval.TYPE_NAME, plan_file=Path("plan.json"),
        expected_names=["dеploy-bot"]))
    assert answer.typed == "dеploy-bot"
    text = out.getvalue()
    _clean(text)
    assert "Inactive\\x1b[1A\\x1b[2K" in text
    assert "WARNING: the name dеploy-bot has characters that are not plain ASCII " \
           "(U+0435 CYRILLIC SMALL LETTER IE at 2)" in text


async def test_failures_from_a_cloud_are_printed_visibly(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO("a\n"))
    step = StepState(id="revoke", phase="contain", kind="action", title="t")
    await TerminalResponder(out).on_failure(step, ActionError(
        "AccessDenied: user \x1b]0;x\x07 cannot", fix="ask \u202e admin"))
    _clean(out.getvalue())
    assert "user \\x1b]0;x\\x07 cannot" in out.getvalue()


def test_the_two_person_command_is_shell_quoted() -> None:
    out = io.StringIO()
    responder = TerminalResponder(out)
    step = StepState(id="revoke", phase="contain", kind="action", title="t")

    async def approve() -> None:
        import sys

        sys.stdin = io.StringIO("\n")
        try:
            await responder.approve(ApprovalRequest(
                step=step, plan=_plan(), policy=Approval.TWO_PERSON,
                plan_file=Path("/tmp/in cidents/plans/x.json"), expected_names=[]))
        finally:
            sys.stdin = sys.__stdin__

    asyncio.run(approve())
    assert "     rescind approve '/tmp/in cidents/plans/x.json'" in out.getvalue().splitlines()
