"""The incident screen: header, five phases, the step list and the selected step's detail.

The engine drives; this screen shows what it does and answers what it asks. A
request (approve a plan, tick a manual step, answer, choose after a failure)
opens its modal at once while this screen is on top; Escape hides it and Enter
brings it back, because the engine keeps waiting either way. `t` and `r` in a
dialog put it aside for the timeline or record; it comes back after. The keys
themselves (bindings, when each acts, the palette) are in ``incident_keys``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.signal import Signal
from textual.widgets import Footer, OptionList
from textual.worker import Worker, WorkerState

from rescind.engine.blast_radius import blast_radius
from rescind.engine.responder import EngineEvent, EventKind, StepStatus
from rescind.errors import RescindError
from rescind.runbook.model import PromptStep
from rescind.tui.messages import EngineEvents, RequestPending, RunFinished, SessionReady
from rescind.tui.modals.approval import ApprovalModal
from rescind.tui.modals.confirm import ConfirmModal, NoticeModal
from rescind.tui.modals.failure import FailureModal
from rescind.tui.modals.request import ASIDE
from rescind.tui.modals.secret import SecretModal
from rescind.tui.modals.step_input import AcknowledgeModal, AnswerModal
from rescind.tui.responder import Request
from rescind.tui.runner import RUN_GROUP, IncidentRunner, Opener
from rescind.tui.screens.incident_keys import IncidentKeys
from rescind.tui.widgets.blast_radius import BlastRadius
from rescind.tui.widgets.header import IncidentHeader
from rescind.tui.widgets.messages_pane import MessagesPane
from rescind.tui.widgets.phases import PhaseBar
from rescind.tui.widgets.step_detail import StepDetail
from rescind.tui.widgets.steps import StepList
from rescind.tui.workers import ReportsFailures

if TYPE_CHECKING:
    from rescind.engine.session import IncidentSession


class IncidentScreen(ReportsFailures, IncidentKeys):
    HELP_TITLE = "Incident"
    # Read when the screen first opens, not before home's first frame (rescind.tcss).
    CSS_PATH = Path(__file__).with_name("incident.tcss")
    HELP = ("The engine runs the runbook phase by phase. When it needs you, a dialog "
            "opens; Escape hides it and Enter brings it back. Every choice is journaled.")
    OWN_FAILURES = frozenset({RUN_GROUP})

    def __init__(self, opener: Opener, *, key: Path | None = None) -> None:
        super().__init__()
        self.runner = IncidentRunner(self, opener, key=key)
        self.engine_events: Signal[list[EngineEvent]] = Signal(self, "engine-events")
        self._active: str | None = None  # the step the engine works on
        self._hidden: Request | None = None  # the request the responder put aside
        self.anchor_line: str | None = None  # the latest ANCHOR line, for the ticket

    def compose(self) -> ComposeResult:
        yield IncidentHeader()
        yield PhaseBar()
        with Horizontal(id="incident-body"):
            yield StepList()
            yield StepDetail()
            yield BlastRadius()
            yield MessagesPane()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(BlastRadius).display = False
        self.query_one(MessagesPane).display = False
        self.query_one(StepList).loading = True
        self.runner.start()
        self.set_interval(5, self.exercise_clock)  # an exercise's timed injects

    def on_unmount(self) -> None:
        self.runner.shutdown()

    # ------------------------------------------------------------ lifecycle

    def on_session_ready(self, _: SessionReady) -> None:
        session = self.session
        self.query_one(IncidentHeader).show_incident(
            session.mode, session.runbook.title, session.incident_id, _opened_at(session))
        steps = self.query_one(StepList)
        steps.loading = False
        steps.load(session.steps)
        steps.focus()
        self._refresh_overview()
        self.show_messages()  # a resumed incident's, from the journal
        self._load_identities()

    @work(thread=True, group="incident-identity", exit_on_error=False)
    def _load_identities(self) -> None:
        """Who rescind acts as, per provider: a blocking read (sts:GetCallerIdentity)."""
        session = self.runner.session
        if session is None:
            return
        found = session.identities()
        self.app.call_from_thread(self.query_one(IncidentHeader).show_identities, found)

    def work_failed(self, group: str, text: str) -> None:
        if group == "incident-identity":
            self.query_one(IncidentHeader).show_identity_problem(text)

    def on_run_finished(self, message: RunFinished) -> None:
        self.refresh_bindings()
        self._refresh_overview()
        if message.outcome == "completed":
            title, body = "All phases are done", (
                "Close the incident now? Closing writes report.md, the timeline exports and "
                "SHA256SUMS, signs them, and shows the command that verifies them.")
        else:
            title, body = "The incident was aborted", (
                "The journal records the abort. Close the incident to seal what was done?")
        self.app.push_screen(ConfirmModal(title, body, yes="Close incident", no="Not yet",
                                          danger=False), self._close_answer)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != RUN_GROUP:
            return
        self.refresh_bindings()
        if event.state is WorkerState.CANCELLED and self.runner.session is not None:
            self.notify("Step cancelled. Press u to resume: rescind re-checks the "
                        "interrupted step against the cloud first.", severity="warning",
                        timeout=10)
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        opened = self.runner.session is not None
        if isinstance(error, RescindError):
            body = Text(error.message)
            if error.fix:
                body.append(f"\n\nfix: {error.fix}")
        else:
            body = Text(f"{type(error).__name__}: {error}")
            if opened:
                body.append("\n\nThe journal keeps everything so far. Press u to resume.")
        title = "Could not open the incident" if not opened else "The incident stopped"
        self.app.push_screen(NoticeModal(title, body, error=True),
                             lambda _: None if opened else self.dismiss_to_home())

    # -------------------------------------------------------------- engine

    def on_engine_events(self, message: EngineEvents) -> None:
        steps = self.query_one(StepList)
        detail = self.query_one(StepDetail)
        for event in message.events:
            data = event.data
            if event.kind is EventKind.STEP:
                steps.refresh_step(data["step"])
                if data["status"] in (StepStatus.RUNNING.value, StepStatus.WAITING.value):
                    self._follow(data["step"])
                elif data["status"] == StepStatus.DONE.value:
                    self._say_outcome(str(data["step"]))
            elif (event.kind is EventKind.PROGRESS and detail.step
                  and detail.step.id == data["step"]):
                detail.show_progress(int(data["done"]), int(data["total"]),
                                     str(data.get("message", "")))
            elif event.kind is EventKind.SECRET:
                self.app.push_screen(SecretModal(str(data["step"]), str(data["name"]),
                                                 data["value"]))
            elif event.kind is EventKind.WARNING:
                self.notify(str(data["message"]), severity="warning", timeout=8,
                            markup=False)
            elif event.kind is EventKind.RESUMED:
                # Sent once the changes left in flight are re-checked, so it says what
                # the cloud answered.
                summary = str(data["summary"])
                self.notify(summary[0].upper() + summary[1:] + ".", title="Resumed",
                            timeout=12, markup=False)
            elif event.kind is EventKind.BLOCKED:
                self.notify(f"DRY-RUN blocked {data['operation']}: nothing was changed",
                            severity="warning", markup=False)
            elif event.kind is EventKind.ANCHOR:
                # In the header, not a toast: a toast would cover the next dialog.
                self.anchor_line = str(data["line"])
                self.query_one(IncidentHeader).show_checkpoint(self.anchor_line)
            elif event.kind is EventKind.MESSAGE:
                if data.get("journaled") is False:
                    self.query_one(MessagesPane).add_unjournaled(data)
                self.show_messages()
        # Secrets go to their modal only; other screens get the rest.
        self.engine_events.publish([e for e in message.events if e.kind is not EventKind.SECRET])
        self._refresh_overview()

    def _say_outcome(self, step_id: str) -> None:
        """What a finished action changed, in words ("AKIA… status is now Inactive")."""
        step = next((s for s in self.session.steps if s.id == step_id), None)
        if step is None or step.plan is None or not step.plan.mutating:
            return
        changes = [f"{c.target} {c.field} is now {c.after}" for c in step.plan.changes[:3]]
        more = len(step.plan.changes) - len(changes)
        text = "; ".join(changes) or step.plan.summary
        if more > 0:
            text += f"; and {more} more change(s)"
        from rescind.modes import Mode

        if self.session.mode is Mode.DRY_RUN:
            text = f"DRY-RUN, nothing was changed. Would have: {text}"
        else:
            text += ", verified"
        self.notify(text, title=step.title, timeout=6, markup=False)

    def _follow(self, step_id: str) -> None:
        """Select the step the engine moved to, unless the responder is looking elsewhere."""
        steps = self.query_one(StepList)
        current = steps.selected_step
        if current is None or current.id == self._active or current.id == step_id:
            steps.select_step(step_id)
        self._active = step_id

    def _refresh_overview(self) -> None:
        session = self.runner.session
        if session is None:
            return
        self.query_one(PhaseBar).show(session.phase_progress(), session.phase)
        self.query_one(IncidentHeader).show_head(session.head, session.seq)
        self.query_one(BlastRadius).show(blast_radius(session.steps))
        self._show_selected()

    def _show_selected(self) -> None:
        step = self.query_one(StepList).selected_step
        pending = self.runner.pending
        waiting = pending.kind if pending and step and pending.step.id == step.id else None
        self.query_one(StepDetail).show_step(step, waiting, self.anchor_line)

    @on(OptionList.OptionHighlighted, "#step-list")
    def _highlighted(self) -> None:
        self._show_selected()

    @on(OptionList.OptionSelected, "#step-list")
    def _selected(self) -> None:
        self.action_respond()

    # ------------------------------------------------------------ requests

    def on_request_pending(self, message: RequestPending) -> None:
        self._follow(message.request.step.id)
        self._show_selected()
        # Not a request the responder already hid: the screen's resume may have shown it
        # before this message arrived, and Esc put it aside.
        if message.request is self._hidden:
            return
        if self.app.screen is self:
            self._open_request(message.request)
        else:
            self.notify(f"“{message.request.step.title}” is waiting for you on the incident "
                        "screen.", severity="warning", timeout=8, markup=False)

    def action_respond(self) -> None:
        pending = self.runner.pending
        if pending is None:
            self.query_one(StepDetail).focus()
            return
        self.query_one(StepList).select_step(pending.step.id)
        self._open_request(pending)

    def _open_request(self, request: Request) -> None:
        if request.future.done() or isinstance(self.app.screen, _REQUEST_MODALS):
            return

        def hide() -> None:  # put aside: Enter brings it back
            self._hidden = request

        def answered(value: Any) -> None:
            if value is None:
                hide()
            elif value in ASIDE:  # look first; the dialog comes back on return
                self._hidden = None
                getattr(self, f"action_{value}")()
            else:
                request.resolve(value)

        if request.kind == "approve":
            assert request.approval is not None
            self.app.push_screen(ApprovalModal(request.approval, request.refusal), answered)
        elif request.kind == "acknowledge":
            # (note,): the note itself may be None.
            anchor = self.anchor_line if "anchor" in request.step.text.lower() else None
            # (note,): the note itself may be None, which must not read as "hidden".
            self.app.push_screen(AcknowledgeModal(request.step, anchor=anchor),
                                 lambda r: answered(r) if r is None or r in ASIDE
                                 else request.resolve(r[0]))
        elif request.kind == "answer":
            self.app.push_screen(
                AnswerModal(request.step, default=request.default, secret=request.secret,
                            pattern=self._prompt_pattern(request.step.id),
                            refusal=request.refusal), answered)
        elif request.kind == "failure":
            assert request.error is not None
            self.app.push_screen(FailureModal(request.step, request.error), answered)

    def on_screen_resume(self) -> None:
        """Back on this screen (a dialog, the timeline closed): show what still waits,
        unless the responder hid exactly that."""
        pending = self.runner.pending
        if pending is not None and pending is not self._hidden:
            self.call_after_refresh(self._reopen, pending)

    def _reopen(self, request: Request) -> None:
        # Only while this screen is on top: a dialog put aside for `t` waits for the return.
        # Hidden is checked again here: Esc may have put it aside since the resume.
        if self.app.screen is self and request is not self._hidden:
            self._open_request(request)

    def _prompt_pattern(self, step_id: str) -> str | None:
        for _, step in self.session.runbook.steps():
            if step.id == step_id and isinstance(step, PromptStep):
                return step.pattern
        return None

def _opened_at(session: IncidentSession) -> datetime:
    """When the incident was opened (its first journal line), not when this process resumed it."""
    entries = session.journal_entries()
    if entries:
        try:
            return datetime.fromisoformat(entries[0].time)
        except ValueError:
            pass
    started: datetime = session.started_at
    return started


_REQUEST_MODALS = (ApprovalModal, AcknowledgeModal, AnswerModal, FailureModal)
