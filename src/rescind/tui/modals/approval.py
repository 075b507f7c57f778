"""The confirmation an action's policy demands, over the plan it approves.

confirm: Approve or Cancel. type-name: the target's name must be typed (the
engine refuses a wrong one, journals the refusal and asks again; this modal
then shows why). two-person: a second responder's token from `rescind approve`.
Cancel is focused whenever the plan cannot be undone (harlequin puts "No" first;
a revocation must never be one stray Enter away).
"""

from __future__ import annotations

import shlex
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static, TextArea

from rescind.engine.responder import Approval, ApprovalRequest, ApprovalResponse
from rescind.tui.widgets.plain import Plain
from rescind.tui.widgets.plan_view import render_plan

_HOW = {
    Approval.CONFIRM: "Read the plan, then approve it.",
    Approval.TYPE_NAME: "This cannot be undone. Type the target's name exactly to approve.",
    Approval.TWO_PERSON: "Two-person rule: a second responder approves this plan with their "
                         "own key. Send them the command below, then paste their token.",
}


class ApprovalModal(ModalScreen[ApprovalResponse]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "decline", "Cancel", id="approval.cancel",
                tooltip="Decline the plan (journaled); you can retry or skip after"),
    ]

    def __init__(self, request: ApprovalRequest, refusal: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.request = request
        self.refusal = refusal
        self.command = f"rescind approve {shlex.quote(str(request.plan_file))}"

    @property
    def policy(self) -> Approval:
        return self.request.policy

    def compose(self) -> ComposeResult:
        plan = self.request.plan
        with Vertical(classes="dialog -wide", id="approval"):
            yield Plain(f"Approve: {self.request.step.title}", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Plain(render_plan(plan), id="approval-plan")
            yield Plain(_HOW.get(self.policy, ""), classes="dialog-how")
            if self.refusal:
                yield Plain(Text(f"✗ Refused: {self.refusal}", style="bold"),
                             id="approval-refusal", classes="refusal")
            if self.policy is Approval.TYPE_NAME:
                yield Plain(self._names_hint(), id="typed-match", classes="dialog-hint")
                yield Input(placeholder="target name", id="typed")
            elif self.policy is Approval.TWO_PERSON:
                yield Plain(Text(self.command, style="bold"), id="approve-command")
                yield TextArea(id="token", soft_wrap=True, show_line_numbers=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                if self.policy is Approval.TWO_PERSON:
                    yield Button("Copy command", id="copy")
                yield Button("Approve", id="approve", variant="error")

    def _names_hint(self) -> str:
        return f"Type one of: {', '.join(self.request.expected_names)}"

    def on_mount(self) -> None:
        safe_first = not self.request.plan.reversible or self.policy is not Approval.CONFIRM
        self.query_one("#cancel" if safe_first else "#approve", Button).focus()

    @on(Input.Changed, "#typed")
    def _typed_changed(self, event: Input.Changed) -> None:
        matches = event.value.strip() in self.request.expected_names
        hint = self.query_one("#typed-match", Static)
        verdict = ("  ✓ matches" if matches else "  ✗ no match") if event.value else ""
        hint.update(self._names_hint() + verdict)
        hint.set_class(matches, "-ok")
        hint.set_class(bool(event.value) and not matches, "-bad")

    @on(Input.Submitted, "#typed")
    def _typed_submitted(self) -> None:
        self._approve()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "approve":
            self._approve()
        elif event.button.id == "copy":
            self.app.copy_to_clipboard(self.command)
            self.notify("Command copied (OSC 52). If your terminal ignores that, select "
                        "the command above with the mouse.")
        else:
            self.action_decline()

    def _approve(self) -> None:
        if self.policy is Approval.TYPE_NAME:
            typed = self.query_one("#typed", Input).value
            self.dismiss(ApprovalResponse(approved=True, typed=typed))
        elif self.policy is Approval.TWO_PERSON:
            token = self.query_one("#token", TextArea).text.strip()
            if not token:
                self.notify("Paste the token from `rescind approve` first.", severity="warning")
                return
            self.dismiss(ApprovalResponse(approved=True, token=token))
        else:
            self.dismiss(ApprovalResponse(approved=True))

    def action_decline(self) -> None:
        self.dismiss(ApprovalResponse(approved=False, reason="declined by the responder"))
