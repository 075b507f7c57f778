"""The confirmation an action's policy demands, over the plan it approves.

confirm: Approve. type-name: the target's name must be typed; the name field has
the focus and Approve stays disabled until the name matches (the engine also
refuses a wrong one, journals the refusal and asks again; this dialog then shows
why). two-person: a second responder's token from `rescind approve`.

Nothing here declines by accident: Escape and Later only put the dialog aside.
Declining is its own button and needs a reason, which is journaled. When the plan
cannot be undone, Later has the focus, so a stray Enter changes nothing.
"""

from __future__ import annotations

import shlex
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Input, Static, TextArea

from rescind.engine.responder import Approval, ApprovalRequest, ApprovalResponse
from rescind.tui.modals.request import FIRST, RequestModal
from rescind.tui.widgets.plain import Plain
from rescind.tui.widgets.plan_view import render_plan

_HOW = {
    Approval.CONFIRM: "Read the plan, then approve it.",
    Approval.TYPE_NAME: "This cannot be undone. Type the target's name exactly to approve.",
    Approval.TWO_PERSON: "Two-person rule: a second responder approves this plan with their "
                         "own key. Send them the command below, then paste their token.",
}


class ApprovalModal(RequestModal[ApprovalResponse]):
    HELP_TITLE = "Approval"
    HELP = ("Escape or Later puts the plan aside: nothing is declined and Enter on the "
            "incident screen brings it back. Decline needs a reason and is journaled.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "decline", "Decline…", id="approval.decline",
                tooltip="Decline the plan with a reason (journaled); retry or skip after"),
    ]

    def __init__(self, request: ApprovalRequest, refusal: str | None = None) -> None:
        super().__init__()
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
            with VerticalScroll(classes="dialog-body", id="approval-body"):
                yield Plain(render_plan(plan), id="approval-plan")
            yield Plain("", id="approval-more", classes="dialog-hint")
            yield Plain(_HOW.get(self.policy, ""), classes="dialog-how")
            if self.refusal:
                yield Plain(Text(f"✗ Refused: {self.refusal}", style="bold"),
                            id="approval-refusal", classes="refusal")
            if self.policy is Approval.TYPE_NAME:
                yield Plain(self._names_hint(), id="typed-match", classes="dialog-hint")
                yield Input(placeholder="target name", id="typed", classes=FIRST)
            elif self.policy is Approval.TWO_PERSON:
                yield Plain(Text(self.command, style="bold"), id="approve-command")
                yield TextArea(id="token", soft_wrap=True, show_line_numbers=False,
                               classes=FIRST)
            with Horizontal(id="decline-row", classes="dialog-buttons"):
                yield Input(placeholder="why decline? (journaled; Enter declines)",
                            id="decline-reason")
                yield Button("Decline", id="decline-go", variant="error", disabled=True)
            # Without a name or token to enter, Approve has the focus, or Later when the
            # plan cannot be undone (a stray Enter then changes nothing).
            confirm = self.policy not in (Approval.TYPE_NAME, Approval.TWO_PERSON)
            reversible = self.request.plan.reversible
            with Horizontal(classes="dialog-buttons"):
                yield Button("Later", id="later",
                             classes=FIRST if confirm and not reversible else "")
                yield Button("Decline…", id="decline")
                if self.policy is Approval.TWO_PERSON:
                    yield Button("Copy command", id="copy")
                yield Button("Approve", id="approve", variant="error",
                             disabled=self.policy is Approval.TYPE_NAME,
                             classes=FIRST if confirm and reversible else "")
        yield Footer()

    def _names_hint(self) -> str:
        return f"Type one of: {', '.join(self.request.expected_names)}"

    def on_mount(self) -> None:
        self.query_one("#decline-row").display = False
        self.call_after_refresh(self._show_more)

    def _show_more(self) -> None:
        """Say how much of the plan is below the fold, so nobody approves half of it."""
        body = self.query_one("#approval-body", VerticalScroll)
        hidden = max(body.virtual_size.height - body.scrollable_content_region.height
                     - round(body.scroll_y), 0)
        more = self.query_one("#approval-more", Static)
        more.display = hidden > 0
        if hidden:
            warnings = len(self.request.plan.warnings)
            what = f"{warnings} warning(s) and more" if warnings else "more"
            more.update(f"↓ {hidden} more line(s) of the plan ({what}): PgDn scrolls")

    def action_scroll_body(self, direction: int) -> None:
        super().action_scroll_body(direction)
        self.call_after_refresh(self._show_more)

    @on(Input.Changed, "#typed")
    def _typed_changed(self, event: Input.Changed) -> None:
        matches = self._typed_matches()
        hint = self.query_one("#typed-match", Static)
        verdict = ("  ✓ matches" if matches else "  ✗ no match") if event.value else ""
        hint.update(self._names_hint() + verdict)
        hint.set_class(matches, "-ok")
        hint.set_class(bool(event.value) and not matches, "-bad")
        self.query_one("#approve", Button).disabled = not matches

    def _typed_matches(self) -> bool:
        return self.query_one("#typed", Input).value.strip() in self.request.expected_names

    @on(Input.Submitted, "#typed")
    def _typed_submitted(self) -> None:
        if self._typed_matches():
            self._approve()
        else:
            self.notify("The name does not match: type one of "
                        f"{', '.join(self.request.expected_names)}.", severity="warning",
                        markup=False)

    @on(Input.Changed, "#decline-reason")
    def _reason_changed(self, event: Input.Changed) -> None:
        self.query_one("#decline-go", Button).disabled = not event.value.strip()

    @on(Input.Submitted, "#decline-reason")
    def _reason_submitted(self) -> None:
        self._decline()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id
        if button == "approve":
            self._approve()
        elif button == "copy":
            self.app.copy_to_clipboard(self.command)
            self.notify("Command copied (OSC 52). If your terminal ignores that, select "
                        "the command above with the mouse.")
        elif button == "decline":
            self.action_decline()
        elif button == "decline-go":
            self._decline()
        else:
            self.action_later()

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
        """Show the reason field; declining happens only once a reason is given."""
        self.query_one("#decline-row").display = True
        self.query_one("#decline-reason", Input).focus()

    def _decline(self) -> None:
        reason = self.query_one("#decline-reason", Input).value.strip()
        if not reason:
            self.notify("Say why you decline: it is journaled.", severity="warning")
            return
        self.dismiss(ApprovalResponse(approved=False, reason=reason))
