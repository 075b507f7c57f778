"""An incident session: the facade front ends drive (docs/engine.md).

It runs a runbook's phases step by step and records everything: the journal, a
checkpoint after every mutating action and at the end of every phase. Opening
(``engine/opening.py``, shared by start and resume), running a step
(``engine/steps.py``), action steps (``engine/action_steps.py``), approvals
(``engine/approvals.py``) and what is hidden by value (``engine/secrecy.py``) live
in their own modules; exercise injects (``engine/injects.py``), the dry-run overlay
(``actions/overlay.py``) and sent messages (``engine/notifying.py``) too. What stays
here (~480 lines) is the facade docs/engine.md documents: thin methods over those.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rescind import __version__
from rescind.actions.base import Change
from rescind.actions.overlay import Overlay
from rescind.engine import notifying, opening
from rescind.engine.action_steps import reverify
from rescind.engine.identity import Identity, identities
from rescind.engine.injects import Exercise, check_injects, saved_scenario
from rescind.engine.lock import IncidentLock
from rescind.engine.opening import Opened, open_resources
from rescind.engine.responder import (
    Aborted,
    EngineEvent,
    EventKind,
    Responder,
    StepState,
    StepStatus,
)
from rescind.engine.secrecy import KnownSecrets, public_settings, secret_input_names
from rescind.engine.state import RecoveredState
from rescind.engine.steps import AnyStep, run_step
from rescind.engine.trust import TailReview
from rescind.errors import UsageError
from rescind.modes import Mode
from rescind.providers.base import BlockedCall
from rescind.record.checkpoint import Anchor, checkpoint
from rescind.record.journal import Entry, Journal
from rescind.record.keys import Signer
from rescind.redaction import REDACTED
from rescind.runbook.model import ActionStep, Runbook
from rescind.runbook.refs import as_text, resolve
from rescind.runbook.validate import coerce_inputs, load_and_validate
from rescind.settings.tree import merge, normalise


@dataclass
class SessionConfig:
    runbook: Path
    mode: Mode = Mode.EXERCISE
    inputs: dict[str, str] = field(default_factory=dict)
    out_dir: Path = Path("incidents")
    key: Path | None = None
    email: str | None = None  # for a --key that is not rescind's own identity
    settings: dict[str, Any] = field(default_factory=dict)
    # Tests and embedders may hand in providers instead of the standard chains.
    providers: dict[str, Any] | None = None
    scenario: Path | None = None


@dataclass
class CloseInfo:
    report: Path
    sums: Path
    signature: Path
    allowed_signers: Path
    verify_command: str
    anchor: Anchor


class IncidentSession:
    """One incident: its folder, journal, lock, providers and step states."""

    def __init__(self, *, incident_dir: Path, runbook: Runbook, runbook_path: Path,
                 mode: Mode, inputs: dict[str, Any], secret_inputs: set[str],
                 journal: Journal, lock: IncidentLock, signer: Signer,
                 responder: Responder, settings: dict[str, Any],
                 providers: dict[str, Any] | None) -> None:
        self.incident_dir = incident_dir
        self.incident_id = incident_dir.name
        self.runbook = runbook
        self.runbook_path = runbook_path
        self.mode = mode
        self.inputs = inputs
        self.secret_inputs = secret_inputs
        self.journal = journal
        self.lock = lock
        self.signer = signer
        self.responder = responder
        self.settings = dict(settings)
        self._providers = providers
        self._stop_sandbox: Callable[[], None] = _nothing
        self.started_at = datetime.now(UTC)
        self.anchors: list[Anchor] = []
        self.steps: list[StepState] = [
            StepState(id=s.id, phase=p, kind=s.kind, title=s.title,
                      action=s.action if isinstance(s, ActionStep) else None)
            for p, s in runbook.steps()
        ]
        self._defs: dict[str, AnyStep] = {s.id: s for _, s in runbook.steps()}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.phase: str | None = None
        self.in_flight = False
        self.closed = False
        self._recovered: RecoveredState | None = None
        self._review: TailReview | None = None  # unsigned lines found by resume
        self._in_flight_at_resume = 0  # changes resume found without an outcome
        self._rechecked: list[str] = []  # what the cloud said about them, in words
        self._secrets = KnownSecrets(inputs, secret_inputs)
        # Dry-run only: the changes approved plans would have made (actions/overlay.py).
        self._overlay = Overlay()
        self.exercise: Exercise | None = None  # exercise mode's clock, injects, saved clouds

    # ----------------------------------------------------------------- opening

    @classmethod
    async def start(cls, config: SessionConfig, responder: Responder) -> IncidentSession:
        """Validate everything, create the incident folder, lock it and open the journal."""
        loaded = load_and_validate(config.runbook)
        runbook = loaded.runbook
        raw_inputs = dict(config.inputs)
        exercise: dict[str, Any] | None = None
        if config.mode is Mode.EXERCISE:
            from rescind.engine.exercise import scenario_inputs, scenario_record

            raw_inputs = scenario_inputs(runbook, loaded.path, config.scenario) | raw_inputs
            exercise = scenario_record(runbook, loaded.path, config.scenario)
        inputs = coerce_inputs(runbook, raw_inputs)
        incident_id = opening.new_incident_id(runbook.id)
        opened = await open_resources(runbook, loaded.path, config.mode,
                                      normalise(config.settings), incident_id=incident_id,
                                      key=config.key, email=config.email,
                                      scenario=config.scenario, given=config.providers)
        try:
            check_injects(runbook, opened.sandboxes)
            incident_dir, lock, journal = opening.create_folder(config.out_dir, incident_id)
        except BaseException:
            opened.stop()
            raise
        session = cls._opened(opened, incident_dir=incident_dir, runbook=runbook,
                              runbook_path=loaded.path, mode=config.mode, inputs=inputs,
                              journal=journal, lock=lock, responder=responder)
        session._append("incident.open", {
            "incident": session.incident_id,
            "runbook": {"id": runbook.id, "title": runbook.title,
                        "path": str(loaded.path), "sha256": loaded.sha256},
            "mode": config.mode.value,
            "severity": runbook.severity,
            "inputs": session._public_inputs(),
            "responder": session._responder_identity(),
            "settings": public_settings(opened.settings),
            "rescind_version": __version__,
            "host": socket.gethostname(),
        })
        if exercise is not None:  # what scoring and the after-action report read
            session._append("exercise.scenario", exercise)
        # Signed before any change: from here on, resume trusts only signed lines.
        session._checkpoint("incident opened")
        opened.sink.target = session._on_blocked
        if session.exercise is not None:
            from rescind.engine.exercise import scenario_path

            await session.exercise.begin(scenario_path(runbook, loaded.path, config.scenario))
        return session

    @classmethod
    async def resume(cls, incident_dir: Path, responder: Responder, *, key: Path | None = None,
                     settings: dict[str, Any] | None = None,
                     providers: dict[str, Any] | None = None,
                     inputs: dict[str, str] | None = None,
                     email: str | None = None) -> IncidentSession:
        """Reopen an interrupted incident; completed steps are not repeated."""
        incident_dir = incident_dir.resolve()
        journal_path = incident_dir / "journal.jsonl"
        if not journal_path.is_file():
            raise UsageError(f"{incident_dir} is not an incident folder (no journal.jsonl)",
                             fix="pass the folder `rescind run` created under incidents/")
        lock = IncidentLock(incident_dir)
        lock.acquire()
        journal: Journal | None = None
        try:
            journal = Journal.open(journal_path, repair_torn=True)
            recalled = opening.recall(incident_dir, journal, inputs)
            state = recalled.tail.state
            # The journal's settings, then this run's: a responder's config wins.
            wanted = merge(normalise(state.settings), normalise(settings or {}))
            if email is None and key is not None:
                email = opening.recorded_email(journal.entries(), key)
            opened = await open_resources(recalled.loaded.runbook, recalled.loaded.path,
                                          recalled.mode, wanted,
                                          incident_id=incident_dir.name, key=key,
                                          email=email, given=providers,
                                          scenario=saved_scenario(incident_dir))
        except BaseException:
            if journal is not None:
                journal.close()
            lock.release()
            raise
        session = cls._opened(opened, incident_dir=incident_dir,
                              runbook=recalled.loaded.runbook,
                              runbook_path=recalled.loaded.path, mode=recalled.mode,
                              inputs=recalled.inputs, journal=journal, lock=lock,
                              responder=responder)
        tail = recalled.tail
        session._recovered = state
        session._review = tail
        session._in_flight_at_resume = len(tail.recheck)
        session.outputs = {k: dict(v) for k, v in state.outputs.items()}
        if session.mode is Mode.DRY_RUN:
            for step_id, changes in state.applied_changes:
                session._overlay.record(step_id, [Change.model_validate(c) for c in changes])
        for step in session.steps:
            if step.id in state.done:
                step.status = StepStatus.DONE
                step.outputs = session.outputs.get(step.id, {})
            elif step.id in state.skipped:
                step.status = StepStatus.SKIPPED
        session._append("incident.resume", {
            "responder": session._responder_identity(),
            "completed_steps": sorted(state.done | state.skipped),
            "pending_intent": tail.recheck[0] if tail.recheck else None,
        })
        if tail.unsigned:
            session._append("journal.unconfirmed", tail.journal_data())
        opened.sink.target = session._on_blocked
        if session.exercise is not None:
            await session.exercise.restore()
        return session

    @classmethod
    def _opened(cls, opened: Opened, *, incident_dir: Path, runbook: Runbook,
                runbook_path: Path, mode: Mode, inputs: dict[str, Any], journal: Journal,
                lock: IncidentLock, responder: Responder) -> IncidentSession:
        """The session over what start or resume opened; its shutdown closes the clouds."""
        session = cls(incident_dir=incident_dir, runbook=runbook, runbook_path=runbook_path,
                      mode=mode, inputs=inputs, secret_inputs=secret_input_names(runbook),
                      journal=journal, lock=lock, signer=opened.signer, responder=responder,
                      settings=opened.settings, providers=opened.providers)
        session._stop_sandbox = opened.stop
        # Injects or not: a simulated cloud that saves its state must save it from the
        # start, or a crash loses the responder's changes in it.
        if any(getattr(s, "injects", None) or callable(getattr(s, "exercise", None))
               for s in opened.sandboxes.values()):
            session.exercise = Exercise(session, opened.sandboxes)
        return session

    # ------------------------------------------------------------------ running

    async def run(self) -> str:
        """Run every phase to the end. Returns "completed" or "aborted"."""
        try:
            if self._review is not None:
                tail, self._review = self._review, None
                if tail.unsigned:
                    self._emit(EventKind.WARNING, message=tail.message())
                for claimed in tail.recheck:
                    self._rechecked.append(await reverify(self, claimed))
                self._emit(EventKind.RESUMED, summary=self.resume_summary())
            for phase, steps in self.runbook.phases.items():
                if self._recovered and phase in self._recovered.phases_ended:
                    continue
                self.phase = phase
                self._append("phase.start", {"phase": phase})
                self._emit(EventKind.PHASE, phase=phase, status="start")
                for step_def in steps:
                    state = self._state(step_def.id)
                    if state.status in (StepStatus.DONE, StepStatus.SKIPPED):
                        continue
                    if self.exercise is not None:
                        await self.exercise.wait_running()
                        await self.exercise.tick()
                    await run_step(self, step_def, state)
                    if self.exercise is not None:
                        await self.exercise.after_step(step_def.id)
                self._append("phase.end", {"phase": phase})
                self._checkpoint(f"end of phase {phase}", phase=phase)
                await notifying.phase_ended(self, phase)
                self._emit(EventKind.PHASE, phase=phase, status="end")
            self.phase = None
            return "completed"
        except Aborted as exc:
            self._append("incident.abort", {"reason": str(exc) or "responder aborted"})
            self._checkpoint("aborted")
            return "aborted"

    # ------------------------------------------------------------------ closing

    async def close(self) -> CloseInfo:
        """Seal the incident: report.md, SHA256SUMS, its signature, allowed_signers."""
        if self.in_flight:
            raise UsageError("an action is still in flight", fix="wait for it to finish")
        from rescind.record.sealing import finish_seal

        self._write_timeline_exports()
        attach = await notifying.before_close(self)
        self._append("incident.close", {"status": "closed"})
        anchor = self._checkpoint("incident closed")
        # The same steps `rescind seal` completes after a crash in this window.
        result = finish_seal(self.journal, self.signer, self.incident_id)
        self.closed = True
        sealed = result.sealed
        info = CloseInfo(report=result.report, sums=sealed.sums, signature=sealed.signature,
                         allowed_signers=sealed.allowed_signers,
                         verify_command=sealed.verify_command, anchor=anchor)
        await notifying.after_seal(self, attach, info.report, info.verify_command)
        self._emit(EventKind.CLOSED, report=str(info.report), verify_command=info.verify_command)
        return info

    def shutdown(self) -> None:
        """Release the lock, close the providers and stop any simulated cloud.

        Safe to call twice."""
        self.journal.close()
        self.lock.release()
        self._stop_sandbox()
        self._stop_sandbox = _nothing

    # --------------------------------------------------------------- timeline

    def timeline(self) -> list[Any]:
        from rescind.engine.timeline import load_timeline

        return load_timeline(self.incident_dir, self.journal_entries())

    async def pull_timeline_again(self) -> dict[str, Any]:
        """Pull the finished timeline step's source again, up to now (engine/pull_again.py)."""
        from rescind.engine.pull_again import pull_again

        return await pull_again(self)

    def mark_relevant(self, uid: str, relevant: bool = True) -> None:
        self._append("timeline.relevant", {"uid": uid, "relevant": relevant})

    def export_timeline(self, fmt: str, path: Path) -> Path:
        from rescind.timeline.export import export

        events = self.timeline()
        export(events, path, fmt)
        self._append("timeline.export", {"format": fmt, "path": str(path),
                                         "events": len(events)})
        return path

    def _write_timeline_exports(self) -> None:
        events = self.timeline()
        if not events:
            return
        from rescind.timeline.export import export

        for fmt, name in (("csv", "timeline.csv"), ("ocsf", "timeline.ocsf.jsonl"),
                          ("timesketch", "timeline.timesketch.jsonl")):
            export(events, self.incident_dir / name, fmt)

    # ------------------------------------------------------------------ views

    @property
    def head(self) -> str:
        return self.journal.head

    @property
    def seq(self) -> int:
        return self.journal.next_seq

    def journal_entries(self) -> list[Entry]:
        return self.journal.entries()

    def phase_progress(self) -> dict[str, tuple[int, int]]:
        progress: dict[str, tuple[int, int]] = {}
        for phase, steps in self.runbook.phases.items():
            states = [self._state(s.id) for s in steps]
            finished = sum(s.status in (StepStatus.DONE, StepStatus.SKIPPED) for s in states)
            progress[phase] = (finished, len(states))
        return progress

    def messages(self) -> list[dict[str, Any]]:
        """Every notification of this incident (sent, captured or would-send), oldest first."""
        from rescind.notify.record import messages

        return messages(self.journal_entries())

    def identities(self) -> list[Identity]:
        """Who rescind acts as in each provider of this incident (blocking, read-only)."""
        return identities(self._providers or {})

    def resume_summary(self) -> str | None:
        """What resuming found, in words; None for a new incident."""
        state = self._recovered
        if state is None:
            return None
        finished = [s for s in self.steps if s.status in (StepStatus.DONE, StepStatus.SKIPPED)]
        upcoming = next((s for s in self.steps if s not in finished), None)
        where = (f"resumed at step {upcoming.id} of phase {upcoming.phase}" if upcoming
                 else "resumed after the last step")
        text = f"{where}; {len(finished)} of {len(self.steps)} steps done"
        count = self._in_flight_at_resume
        if count:
            changes = "1 change was" if count == 1 else f"{count} changes were"
            if self._rechecked:
                text += f"; {changes} in flight and re-checked: {'; '.join(self._rechecked)}"
            else:
                text += f"; {changes} in flight, to be re-checked with the cloud first"
        return text

    def verify(self) -> Any:
        from rescind.record.verify import verify_incident

        return verify_incident(self.incident_dir,
                               anchors=[a.line for a in self.anchors])

    # ---------------------------------------------------------------- helpers

    def _state(self, step_id: str) -> StepState:
        return next(s for s in self.steps if s.id == step_id)

    def _steps_view(self) -> dict[str, dict[str, Any]]:
        return {s.id: {"status": s.status.value, "outputs": self.outputs.get(s.id, {})}
                for s in self.steps}

    def _text(self, template: str) -> str:
        # A whole-string reference keeps its type in resolve(); text wants it as text.
        return as_text(resolve(template, self._public_inputs(), self._public_outputs()))

    def _public_inputs(self) -> dict[str, Any]:
        # Text shown or journaled never carries a secret: references to one read as redacted.
        return self._secrets.public_inputs(self.inputs)

    def _public_outputs(self) -> dict[str, dict[str, Any]]:
        return self._secrets.public_outputs(self.outputs)

    def _finish(self, state: StepState, outputs: dict[str, Any],
                secret_keys: set[str] | None = None) -> None:
        self.outputs[state.id] = outputs
        if secret_keys:
            self._secrets.output_keys |= {(state.id, k) for k in secret_keys}
        state.outputs = {k: (REDACTED if k in (secret_keys or set()) else v)
                         for k, v in outputs.items()}
        self._append("step.done", {"step": state.id, "outputs": state.outputs})
        self._set_status(state, StepStatus.DONE)

    def _skip(self, state: StepState, reason: str) -> None:
        self.outputs[state.id] = {}
        self._append("step.skipped", {"step": state.id, "reason": reason})
        self._set_status(state, StepStatus.SKIPPED)

    def _set_status(self, state: StepState, status: StepStatus) -> None:
        state.status = status
        self._emit(EventKind.STEP, step=state.id, status=status.value)

    def _append(self, kind: str, data: dict[str, Any]) -> int:
        if self.closed:
            raise UsageError(f"incident {self.incident_id} is closed and sealed: its record "
                             "is read-only", fix="start a new incident to record more")
        entry = self.journal.append(kind, self._secrets.scrub(data))
        self._emit(EventKind.JOURNAL, seq=entry.seq, kind=kind, time=entry.time,
                   sha256=entry.sha256)
        return entry.seq

    def _emit(self, event_kind: EventKind, /, **data: Any) -> None:
        if event_kind is not EventKind.SECRET:  # the one event meant to show a secret, once
            data = self._secrets.scrub(data)
        self.responder.event(EngineEvent(event_kind, data))

    def _checkpoint(self, reason: str, **extra: Any) -> Anchor:
        anchor = checkpoint(self.journal, self.signer, self.incident_id, reason, extra or None)
        self.anchors.append(anchor)
        self._emit(EventKind.JOURNAL, seq=anchor.seq, kind="checkpoint", time="",
                   sha256=anchor.sha256)
        self._emit(EventKind.ANCHOR, line=anchor.line)
        return anchor

    def _responder_identity(self) -> dict[str, str]:
        return {"name": self.signer.name, "email": self.signer.email,
                "fingerprint": self.signer.fingerprint}

    def _on_blocked(self, call: BlockedCall) -> None:
        step = next((s.id for s in self.steps if s.status is StepStatus.RUNNING), None)
        self._append("dryrun.blocked", {"step": step, "provider": call.provider,
                                        "operation": call.operation, "params": call.params,
                                        "text": call.describe()})
        self._emit(EventKind.BLOCKED, step=step, operation=call.operation, params=call.params)


def _nothing() -> None:
    pass
