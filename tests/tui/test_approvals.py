"""The two-person rule, a secret shown once, skip with a reason, and missing inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.app import App
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Input, Static, TextArea

from rescind.actions.base import Change, Plan, Risk
from rescind.engine.responder import Approval, ApprovalRequest, StepState
from rescind.engine.session import SessionConfig
from rescind.modes import Mode
from rescind.record.approval import sign_approval
from rescind.record.keys import ephemeral_signer
from rescind.record.verify import verify_incident
from rescind.tui.app import RescindApp
from rescind.tui.modals.approval import ApprovalModal
from rescind.tui.screens.incident import IncidentScreen
from tests.tui import drill
from tests.tui.conftest import journal, kinds, screen_named, text_of, wait_for


async def _tab_to(pilot: Pilot[Any], widget_id: str) -> None:
    for _ in range(10):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached #{widget_id}")


def _config(runbook: Path, **inputs: str) -> SessionConfig:
    return SessionConfig(runbook=runbook, mode=Mode.EXERCISE, inputs=dict(inputs),
                         out_dir=Path("incidents"))


async def test_secret_once_then_two_person_approval(identity: None, workdir: Path,
                                                    drill_cloud: Path) -> None:
    app = RescindApp(start=_config(drill.CRITICAL_RUNBOOK))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval")
        incident = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
        incident_dir = incident.session.incident_dir
        await pilot.press("enter")  # rotate-token: reversible, Approve is focused

        # The new token is shown once, in its own dialog, and nowhere on disk.
        await wait_for(pilot, screen_named(pilot, "SecretModal"), "the secret")
        assert drill.NEW_TOKEN in text_of(app.screen.query_one("#secret-value", Static))
        await _tab_to(pilot, "done")
        await pilot.press("enter")
        on_disk = b"".join(p.read_bytes() for p in incident_dir.rglob("*") if p.is_file())
        assert drill.NEW_TOKEN.encode() not in on_disk

        # Critical: a second responder's token, pasted.
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal)
                       and app.screen.policy is Approval.TWO_PERSON, "the two-person approval")
        modal = app.screen
        assert app.focused is not None and app.focused.id == "token"
        plan_file = modal.request.plan_file
        assert str(plan_file) in modal.command
        await _tab_to(pilot, "approve")
        await pilot.press("enter")  # nothing pasted yet: refused in place
        assert app.screen is modal
        second = ephemeral_signer("Bo Second", "bo@example.com")
        token = sign_approval(plan_file.read_bytes(), second)
        await _tab_to(pilot, "token")
        modal.query_one(TextArea).post_message(events.Paste(token))
        await pilot.pause()
        await _tab_to(pilot, "approve")
        await pilot.press("enter")
        await wait_for(pilot, screen_named(pilot, "ConfirmModal"), "the close offer")
        assert set(drill.load()["users"].values()) == {False}
        approved = kinds(incident_dir, "action.approval", step="disable-everyone",
                         approved=True)
        assert approved and approved[0]["approver"]["fingerprint"] == second.fingerprint
        await pilot.press("enter")
        await wait_for(pilot, screen_named(pilot, "RecordScreen"), "the record")
        record = app.screen
        await wait_for(pilot, lambda: record.report is not None, "verification")
        assert record.report.exit_code == 0 and record.report.approvals_verified == 1
    assert verify_incident(incident_dir).exit_code == 0


async def test_skip_a_failed_step_with_a_reason(identity: None, workdir: Path,
                                                drill_cloud: Path) -> None:
    app = RescindApp(start=_config(drill.RUNBOOK, ticket="IR-3"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval")
        incident_dir = next(s for s in app.screen_stack
                            if isinstance(s, IncidentScreen)).session.incident_dir
        await pilot.press("d", *"key already rotated", "enter")  # decline, with a reason
        await wait_for(pilot, screen_named(pilot, "FailureModal"), "the failure choice")
        skip = app.screen.query_one("#skip")
        assert skip.disabled, "a skip needs a reason"
        await _tab_to(pilot, "reason")
        await pilot.press(*"key already inactive")
        assert not skip.disabled
        await _tab_to(pilot, "skip")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal)
                       and app.screen.request.step.id == "delete-backdoor", "the next step")
    assert kinds(incident_dir, "action.approval", step="disable-key", approved=False)
    assert kinds(incident_dir, "step.skipped", step="disable-key",
                 reason="key already inactive")
    assert drill.load()["keys"]["AKIAIOSFODNN7EXAMPLE"] == "Active"


async def test_run_without_required_inputs_asks_for_them(identity: None, workdir: Path,
                                                         drill_cloud: Path) -> None:
    app = RescindApp(start=_config(drill.RUNBOOK, ticket="not a ticket"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, screen_named(pilot, "InputsForm"), "the inputs form")
        form = app.screen
        assert form.query_one("#start").disabled
        assert "must match" in text_of(form.query_one("#problem-ticket", Static))
        await pilot.press(*["backspace"] * 20, *"IR-4", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval")
        session = next(s for s in app.screen_stack if isinstance(s, IncidentScreen)).session
        assert session.inputs["ticket"] == "IR-4"
    opened = [e.data for e in journal(session.incident_dir) if e.kind == "incident.open"]
    assert opened[0]["inputs"]["ticket"] == "IR-4"


@pytest.mark.parametrize(("policy", "reversible", "first"), [
    (Approval.TYPE_NAME, False, "typed"), (Approval.TWO_PERSON, False, "token"),
    (Approval.CONFIRM, True, "approve"), (Approval.CONFIRM, False, "later")])
async def test_an_approval_has_its_focus_from_the_first_frame(
        policy: Approval, reversible: bool, first: str) -> None:
    """Keys typed as the dialog appears reach the name field: a focus set on mount lands
    a frame after Textual focused the plan's body, and a typed 't' put the dialog aside."""
    from textual.app import App

    from rescind.actions.base import Plan, Risk
    from rescind.engine.responder import ApprovalRequest, StepState

    plan = Plan(action="aws.iam.deactivate_access_key", step_id="revoke", risk=Risk.HIGH,
                reversible=reversible, mutating=True, params={}, summary="Deactivate",
                targets=["deploy-bot"])
    step = StepState(id="revoke", phase="contain", kind="action", title="Revoke")
    app: App[None] = App()
    async with app.run_test():
        await app.push_screen(ApprovalModal(ApprovalRequest(
            step=step, plan=plan, policy=policy, plan_file=Path("plan.json"),
            expected_names=["deploy-bot"])))
        assert app.focused is not None and app.focused.id == first


def _long_plan_request() -> ApprovalRequest:
    """An irreversible plan whose last warnings fall below the fold at 80x24."""
    user = "backup-admin"
    plan = Plan(action="drill.delete_user", step_id="delete-backdoor", params={"user": user},
                targets=[user], risk=Risk.HIGH, reversible=False, mutating=True,
                changes=[Change(target=user, field=f"policy-{n}", before="attached",
                                after="detached") for n in range(8)],
                warnings=[f"warning {n}: role session {n} stays valid until it expires"
                          for n in range(6)],
                summary=f"Delete the backdoor user {user}")
    step = StepState(id="delete-backdoor", phase="eradicate", kind="action",
                     title="Delete the backdoor user", plan=plan)
    return ApprovalRequest(step=step, plan=plan, policy=Approval.TYPE_NAME,
                           plan_file=Path("plan.json"), expected_names=[user])


class _OneDialog(App[None]):
    """The approval dialog alone, styled as in the app: no incident to open."""

    CSS_PATH = RescindApp.CSS_PATH

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(ApprovalModal(_long_plan_request()), self.answers.append)


async def test_a_long_plan_scrolls_by_keyboard_to_its_last_warning_at_80x24() -> None:
    app = _OneDialog()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the dialog")
        dialog = app.screen
        body = dialog.query_one("#approval-body", VerticalScroll)
        more = dialog.query_one("#approval-more", Static)
        await wait_for(pilot, lambda: more.display, "the below-the-fold hint")
        assert "6 warning(s)" in text_of(more) and "PgDn" in text_of(more)
        assert body.scroll_y == 0
        # The name field keeps the focus; Down and PgDn still scroll the plan.
        await pilot.press("down")
        assert body.scroll_y == 1 and app.focused is dialog.query_one("#typed")
        await pilot.press("pagedown", "pagedown", "pagedown")
        await wait_for(pilot, lambda: not more.display, "the hint gone at the bottom")
        assert body.scroll_y == body.max_scroll_y > 1
        await pilot.press("up")
        assert body.scroll_y == body.max_scroll_y - 1
        # The name field still answers (typing into it is tested with the drill).
        dialog.query_one("#typed", Input).value = "backup-admin"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.answers, "the answer")
    assert [(a.approved, a.typed) for a in app.answers] == [(True, "backup-admin")]


async def test_secret_values_show_one_line_each_and_copy_as_shown(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """New KV values by path and field: one line each, as they are (no Python dict, whose
    quoting would escape the quote); Copy takes what is shown."""
    from rescind.tui.modals.secret import SecretModal

    copied: list[str] = []
    app: App[None] = App()
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    lines = ["secret/payments/config stripe_key: sk_'one\"",
             "secret/payments/config webhook_secret: whsec_two"]
    async with app.run_test() as pilot:
        await app.push_screen(SecretModal("rotate-kv", "new_values", {
            "secret/payments/config": {"stripe_key": "sk_'one\"",
                                       "webhook_secret": "whsec_two"}}))
        await wait_for(pilot, lambda: app.focused is not None, "the dialog")
        assert text_of(app.screen.query_one("#secret-value", Static)).splitlines() == lines
        await pilot.press("c")
        assert copied == ["\n".join(lines)]
