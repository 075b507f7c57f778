"""The incident screen's keys: what each does, when it may act, and why not when it may not.

``IncidentScreen`` (``incident.py``) shows what the engine does and opens what it
asks; this base holds the bindings, the footer's gate (``check_action``), the
sentence a key says when it cannot act, the actions themselves and the command
palette's offers. The screen sets ``runner``, ``anchor_line`` and ``engine_events``.

Every key answers: one that cannot act right now (close before the end, resume
while running) says why instead of doing nothing; the footer lists only the
keys that act.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.binding import Binding, BindingType
from textual.screen import Screen

from rescind.engine.blast_radius import DESCRIBE
from rescind.errors import RescindError
from rescind.tui.modals.confirm import ConfirmModal, NoticeModal
from rescind.tui.palette import PaletteItem
from rescind.tui.widgets.blast_radius import BlastRadius
from rescind.tui.widgets.messages_pane import MessagesPane
from rescind.tui.widgets.step_detail import StepDetail
from rescind.tui.widgets.steps import StepList

if TYPE_CHECKING:
    from textual.signal import Signal

    from rescind.engine.injects import Exercise
    from rescind.engine.responder import EngineEvent
    from rescind.engine.session import IncidentSession
    from rescind.tui.runner import IncidentRunner


class IncidentKeys(Screen[None]):
    """Base of IncidentScreen: its keys and palette, gated on the runner's state."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "respond", "Respond", id="incident.respond",
                tooltip="Open what the engine is waiting for"),
        Binding("t", "timeline", "Timeline", id="incident.timeline",
                tooltip="The merged audit-log timeline"),
        Binding("r", "record", "Record", id="incident.record",
                tooltip="Journal entries, checkpoints, verification"),
        Binding("c", "cancel_step", "Cancel step", id="incident.cancel",
                tooltip="Stop the running step; resume re-checks it first"),
        Binding("u", "resume", "Resume", id="incident.resume",
                tooltip="Continue after a cancel or an error"),
        Binding("x", "close_incident", "Close incident", id="incident.close",
                tooltip="Seal the record: report, SHA256SUMS, signature"),
        Binding("b", "blast_radius", "Blast radius", id="incident.blast_radius",
                tooltip="Key → user → what it created → policies, each contained or not"),
        Binding("m", "messages", "Messages", id="incident.messages",
                tooltip="Every notification: sent, captured, blocked by dry-run or failed"),
        Binding("a", "copy_anchor", "Copy anchor", id="incident.copy_anchor", show=False,
                tooltip="Copy the latest ANCHOR line to paste into the ticket (OSC 52)"),
        Binding("h", "home", "Home", id="incident.home",
                tooltip="Leave this incident for the home screen (it stays resumable)"),
        Binding("f", "facilitator", "Facilitator", id="incident.facilitator",
                tooltip="Exercise: pause, resume, fire an inject, advance the clock, note"),
        # When the key cannot act right now, these say why (never shown in the footer).
        Binding("c", "why('cancel_step')", show=False, system=True),
        Binding("u", "why('resume')", show=False, system=True),
        Binding("x", "why('close_incident')", show=False, system=True),
        Binding("b", "why('blast_radius')", show=False, system=True),
        Binding("f", "why('facilitator')", show=False, system=True),
        Binding("m", "why('messages')", show=False, system=True),
    ]

    runner: IncidentRunner
    anchor_line: str | None
    engine_events: Signal[list[EngineEvent]]

    @property
    def session(self) -> IncidentSession:
        """The open session; screens and keys that use it are enabled only once it is."""
        assert self.runner.session is not None
        return self.runner.session

    @property
    def closed(self) -> bool:
        session = self.runner.session
        return bool(session is not None and session.closed)

    def dismiss_to_home(self) -> None:
        self.runner.shutdown()
        self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        runner = self.runner
        if action == "cancel_step":
            return runner.running and runner.session is not None and runner.pending is None
        if action == "resume":
            return runner.session is not None and not runner.running \
                and runner.outcome is None and not self.closed
        if action == "close_incident":
            return runner.outcome is not None and not self.closed
        if action in ("timeline", "record"):
            return runner.session is not None
        if action == "copy_anchor":
            return self.anchor_line is not None
        if action == "blast_radius":
            return bool(self.query_one(BlastRadius).roots)
        if action == "facilitator":
            return runner.session is not None and runner.session.exercise is not None \
                and not self.closed
        if action == "messages":
            return bool(self.query_one(MessagesPane).messages)
        return True

    def action_why(self, action: str) -> None:
        """A key that cannot act right now says why."""
        runner = self.runner
        if action == "blast_radius" and runner.session is not None and not any(
                step.action == DESCRIBE for step in self.session.steps):
            text = ("This runbook has no blast radius: it is drawn from the findings of "
                    f"{DESCRIBE} (a leaked AWS key's), a step it does not run.")
        elif action == "blast_radius":
            text = ("No blast radius yet: it is drawn from the describe step's findings "
                    "(and the persistence step's), once they are done.")
        elif action == "messages":
            text = ("No messages yet: notify.send steps, approval requests and the ticket's "
                    "comments appear here once rescind sends (or captures, or blocks) one.")
        elif runner.session is None:
            text = "The incident is still opening."
        elif action == "facilitator":
            text = ("The facilitator's controls are for an exercise whose scenario has "
                    "injects (docs/exercises.md)." if not self.closed else
                    "The exercise is closed: r shows its record.")
        elif action == "close_incident":
            if self.closed:
                text = "The incident is already closed: r shows its record."
            else:
                done = sum(1 for d, t in self.session.phase_progress().values() if d == t)
                text = (f"The incident can close once every phase is done ({done} of "
                        f"{len(self.session.phase_progress())} done). To stop early, abort "
                        "from a step's failure dialog, then close.")
        elif action == "resume":
            text = ("Nothing to resume: the engine is running." if runner.running else
                    "Nothing to resume: the incident is finished or closed.")
        else:
            text = ("Nothing to cancel: the engine is waiting for you, not running a step."
                    if runner.pending is not None else "Nothing is running to cancel.")
        self.notify(text, markup=False)

    def action_blast_radius(self) -> None:
        """Show the blast radius in place of the step detail, or back."""
        tree, detail = self.query_one(BlastRadius), self.query_one(StepDetail)
        self.query_one(MessagesPane).display = False
        tree.display = not tree.display
        detail.display = not tree.display
        (tree if tree.display else self.query_one(StepList)).focus()

    def action_messages(self) -> None:
        """Show the Messages pane in place of the step detail, or back."""
        pane, detail = self.query_one(MessagesPane), self.query_one(StepDetail)
        self.query_one(BlastRadius).display = False
        pane.display = not pane.display
        detail.display = not pane.display
        if pane.display:
            self.show_messages()
        (pane if pane.display else self.query_one(StepList)).focus()

    def show_messages(self) -> None:
        session = self.runner.session
        if session is not None:
            self.query_one(MessagesPane).show(session.messages())
            self.refresh_bindings()

    def action_copy_anchor(self) -> None:
        if self.anchor_line:
            self.app.copy_to_clipboard(self.anchor_line)
            self.notify("Anchor line copied (OSC 52); paste it into the ticket.",
                        title="Copied")

    def action_timeline(self) -> None:
        from rescind.tui.screens.timeline import TimelineScreen

        self.app.push_screen(TimelineScreen(self.session.incident_dir, session=self.session,
                                            updates=self.engine_events))

    def action_record(self) -> None:
        from rescind.tui.screens.record import RecordScreen

        self.app.push_screen(RecordScreen(self.session.incident_dir, session=self.session,
                                          updates=self.engine_events,
                                          close_info=self.runner.close_info))

    def action_cancel_step(self) -> None:
        in_flight = self.runner.in_flight
        body = ("A cloud call may already be on its way. rescind stops waiting for it; "
                "when you resume, it asks the cloud whether the change happened before "
                "doing anything else." if in_flight else
                "The running step stops. Resume (u) plans it again.")
        self.app.push_screen(ConfirmModal("Cancel the running step?", body,
                                          yes="Cancel step", no="Keep running"),
                             lambda yes: self.runner.cancel() if yes else None)

    def action_resume(self) -> None:
        self.runner.reopen()

    def action_facilitator(self) -> None:
        from rescind.tui.modals.facilitator import FacilitatorModal

        exercise = self.session.exercise
        if exercise is not None:
            self.app.push_screen(FacilitatorModal(exercise))

    def exercise_clock(self) -> None:
        """Fire the injects the exercise clock has reached while the team works."""
        session = self.runner.session
        if session is not None and session.exercise is not None and not self.closed:
            self._tick(session.exercise)

    @work(group="exercise-clock", exclusive=True, exit_on_error=False)
    async def _tick(self, exercise: Exercise) -> None:
        await exercise.tick()

    def action_home(self) -> None:
        question = self.quit_question()
        if question is None:
            self.dismiss_to_home()
            return
        text, dangerous = question
        self.app.push_screen(ConfirmModal("Leave this incident?", text, yes="Leave",
                                          no="Stay", danger=dangerous),
                             lambda yes: self.dismiss_to_home() if yes else None)

    def action_close_incident(self) -> None:
        self._close_answer(True)

    def _close_answer(self, yes: bool | None) -> None:
        if yes:
            self._close()

    @work(group="incident-close", exclusive=True, exit_on_error=False)
    async def _close(self) -> None:
        try:
            await self.runner.close()
        except RescindError as exc:
            self.app.push_screen(NoticeModal("Could not close the incident",
                                             f"{exc.message}\n\nfix: {exc.fix or '-'}",
                                             error=True))
            return
        self.refresh_bindings()
        self.action_record()

    def palette_items(self) -> list[PaletteItem]:
        offers = [
            ("Respond to the waiting step", "Open what the engine waits for", "respond"),
            ("Timeline", "The merged audit-log timeline", "timeline"),
            ("Pull timeline", "Pull the timeline step's source again, up to now",
             "pull_timeline"),
            ("Export timeline", "Write the timeline in one of the engine's formats",
             "export_timeline"),
            ("Record", "Journal entries and checkpoints", "record"),
            ("Messages", "Every notification: sent, captured, blocked or failed", "messages"),
            ("Verify record", "Check the chain, signatures and seal", "verify"),
            ("Cancel the running step", "Resume re-checks it first", "cancel_step"),
            ("Resume the incident", "Continue after a cancel or an error", "resume"),
            ("Close incident", "Seal the record and show how to verify it", "close_incident"),
            ("Back to home", "Leave this incident; it stays resumable", "home"),
        ]
        items = []
        for name, help_text, action in offers:
            gate = "timeline" if action in ("pull_timeline", "export_timeline") else \
                "record" if action == "verify" else action
            if self.check_action(gate, ()) and (action != "respond" or self.runner.pending):
                items.append(PaletteItem(name, help_text, partial(self.run_action, action)))
        return items

    def action_pull_timeline(self) -> None:
        """Pull again (the step's source, a window up to now) and show the timeline."""
        self.action_timeline()
        self.notify("Pulling the timeline again…", markup=False)
        self._pull_again()

    @work(group="incident-pull", exclusive=True, exit_on_error=False)
    async def _pull_again(self) -> None:
        outputs = await self.session.pull_timeline_again()
        self.notify(f"Pulled again: {outputs.get('events', 0)} events, "
                    f"{outputs.get('new_events', 0)} new.", title="Timeline", markup=False)

    def action_export_timeline(self) -> None:
        from rescind.tui.screens.timeline import TimelineScreen

        screen = TimelineScreen(self.session.incident_dir, session=self.session,
                                updates=self.engine_events)
        self.app.push_screen(screen)
        screen.call_after_refresh(screen.action_export)

    def action_verify(self) -> None:
        from rescind.tui.screens.record import RecordScreen

        self.app.push_screen(RecordScreen(self.session.incident_dir, session=self.session,
                                          updates=self.engine_events,
                                          close_info=self.runner.close_info, verify=True))

    def quit_question(self) -> tuple[str, bool] | None:
        """(why quitting needs a confirmation, whether it is risky), or None."""
        if self.runner.in_flight:
            return ("An action is in flight: a cloud call may be under way. If you quit now, "
                    "rescind re-checks it against the cloud when you resume the incident.",
                    True)
        if self.runner.session is not None and not self.closed:
            return ("The incident is still open. You can resume it later from the home "
                    "screen.", False)
        return None
