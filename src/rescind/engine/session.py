"""An incident session: runs a runbook's phases step by step and records everything.

Every action step goes plan → approve → apply → verify. The journal gets the
intent before a mutating call and the outcome after; a checkpoint signs the
journal after every mutating action and at the end of every phase.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rescind import __version__
from rescind.actions import registry
from rescind.actions.base import ActionContext, Plan, Result
from rescind.engine.clouds import open_clouds
from rescind.engine.identity import Identity, identities
from rescind.engine.lock import IncidentLock
from rescind.engine.policy import require_approvers, required_approval, trusted_approvers
from rescind.engine.responder import (
    Aborted,
    Approval,
    ApprovalRequest,
    ApprovalResponse,
    EngineEvent,
    Responder,
    StepState,
    StepStatus,
)
from rescind.engine.state import RecoveredState
from rescind.engine.trust import TailReview, review
from rescind.errors import ActionError, ApprovalRefused, ErrorKind, RescindError, UsageError
from rescind.modes import Mode
from rescind.providers.base import BlockedCall
from rescind.record.checkpoint import Anchor, checkpoint
from rescind.record.journal import Entry, Journal
from rescind.record.keys import Signer, load_signer
from rescind.redaction import REDACTED, is_secret_key, normalize
from rescind.runbook.conditions import compile_condition
from rescind.runbook.model import ActionStep, ManualStep, NoteStep, PromptStep, Runbook
from rescind.runbook.refs import as_text, resolve
from rescind.runbook.validate import coerce_inputs, load_and_validate
from rescind.settings.tree import merge, normalise

AnyStep = ActionStep | ManualStep | PromptStep | NoteStep


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


def _incident_id(runbook_id: str) -> str:
    return f"{datetime.now(UTC):%Y-%m-%d}-{runbook_id}-{secrets.token_hex(3)}"


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
        self._secret_output_keys: set[tuple[str, str]] = set()
        self._secret_values: set[str] = {str(inputs[k]) for k in secret_inputs
                                         if inputs.get(k) not in (None, "")}

    # ----------------------------------------------------------------- opening

    @classmethod
    async def start(cls, config: SessionConfig, responder: Responder) -> IncidentSession:
        """Validate everything, create the incident folder, lock it and open the journal."""
        loaded = load_and_validate(config.runbook)
        runbook = loaded.runbook
        raw_inputs = dict(config.inputs)
        if config.mode is Mode.EXERCISE:
            from rescind.engine.exercise import scenario_inputs

            raw_inputs = scenario_inputs(runbook, loaded.path, config.scenario) | raw_inputs
        inputs = coerce_inputs(runbook, raw_inputs)
        secret_inputs = {k for k, spec in runbook.inputs.items() if spec.secret}
        signer = load_signer(config.key, email=config.email)
        require_approvers(runbook, config.mode, config.settings)
        incident_id = _incident_id(runbook.id)
        clouds = await open_clouds(runbook, loaded.path, config.mode,
                                   normalise(config.settings), scenario=config.scenario,
                                   given=config.providers, incident_id=incident_id)
        settings, providers, sink, stop = (clouds.settings, clouds.providers, clouds.sink,
                                           clouds.stop)
        try:
            os.umask(0o077)
            try:
                config.out_dir.mkdir(parents=True, exist_ok=True)
                incident_dir = config.out_dir.resolve() / incident_id
                incident_dir.mkdir(mode=0o700)
            except OSError as exc:
                raise UsageError(f"cannot create an incident folder in {config.out_dir}: "
                                 f"{exc.strerror}",
                                 fix="pass --out a folder you can write to") from None
            lock = IncidentLock(incident_dir)
            lock.acquire()
            journal = Journal.create(incident_dir / "journal.jsonl")
        except BaseException:
            stop()
            raise
        session = cls(incident_dir=incident_dir, runbook=runbook, runbook_path=loaded.path,
                      mode=config.mode, inputs=inputs, secret_inputs=secret_inputs,
                      journal=journal, lock=lock, signer=signer, responder=responder,
                      settings=settings, providers=providers)
        session._stop_sandbox = stop
        session._append("incident.open", {
            "incident": session.incident_id,
            "runbook": {"id": runbook.id, "title": runbook.title,
                        "path": str(loaded.path), "sha256": loaded.sha256},
            "mode": config.mode.value,
            "inputs": session._public_inputs(),
            "responder": session._responder_identity(),
            "settings": _public_settings(settings),
            "rescind_version": __version__,
            "host": socket.gethostname(),
        })
        # Signed before any change: from here on, resume trusts only signed lines.
        session._checkpoint("incident opened")
        sink.target = session._on_blocked
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
        stop: Callable[[], None] = _nothing
        try:
            journal = Journal.open(journal_path, repair_torn=True)
            entries = journal.entries()
            _refuse_closed(incident_dir, entries)
            tail = review(incident_dir, entries)
            state = tail.state
            loaded = load_and_validate(Path(state.runbook_path))
            if loaded.sha256 != state.runbook_sha256:
                raise UsageError(
                    f"runbook {state.runbook_path} changed since the incident started",
                    fix="restore the runbook the incident started with (its sha256 is in "
                        "the journal's incident.open entry)")
            runbook = loaded.runbook
            secret_inputs = {k for k, spec in runbook.inputs.items() if spec.secret}
            # Secret inputs were never journaled: they must be given again.
            merged = {k: str(v) for k, v in state.inputs.items() if k not in secret_inputs}
            merged.update(inputs or {})
            missing = sorted(k for k in secret_inputs
                             if k not in merged and runbook.inputs[k].default is None)
            if missing:
                raise UsageError(
                    f"secret input(s) {', '.join(missing)} are not recorded in the journal",
                    fix="resume with " + " ".join(f"--input {k}=..." for k in missing))
            coerced = coerce_inputs(runbook, merged)
            mode = Mode(state.mode)
            # The journal's settings, then this run's: a responder's config wins.
            wanted = merge(normalise(state.settings), normalise(settings or {}))
            require_approvers(runbook, mode, wanted)
            clouds = await open_clouds(runbook, loaded.path, mode, wanted, given=providers,
                                       incident_id=incident_dir.name)
            all_settings, providers, sink, stop = (clouds.settings, clouds.providers,
                                                   clouds.sink, clouds.stop)
            if email is None and key is not None:
                email = _recorded_email(journal.entries(), key)
            signer = load_signer(key, email=email)
        except BaseException:
            stop()
            if journal is not None:
                journal.close()
            lock.release()
            raise
        session = cls(incident_dir=incident_dir, runbook=runbook, runbook_path=loaded.path,
                      mode=mode, inputs=coerced, secret_inputs=secret_inputs, journal=journal,
                      lock=lock, signer=signer, responder=responder, settings=all_settings,
                      providers=providers)
        session._stop_sandbox = stop
        session._recovered = state
        session._review = tail
        session.outputs = {k: dict(v) for k, v in state.outputs.items()}
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
        sink.target = session._on_blocked
        return session

    # ------------------------------------------------------------------ running

    async def run(self) -> str:
        """Run every phase to the end. Returns "completed" or "aborted"."""
        try:
            if self._review is not None:
                tail, self._review = self._review, None
                if tail.unsigned:
                    self._emit("warning", message=tail.message())
                for claimed in tail.recheck:
                    await self._reverify(claimed)
            for phase, steps in self.runbook.phases.items():
                if self._recovered and phase in self._recovered.phases_ended:
                    continue
                self.phase = phase
                self._append("phase.start", {"phase": phase})
                self._emit("phase", phase=phase, status="start")
                for step_def in steps:
                    state = self._state(step_def.id)
                    if state.status in (StepStatus.DONE, StepStatus.SKIPPED):
                        continue
                    await self._run_step(step_def, state)
                self._append("phase.end", {"phase": phase})
                self._checkpoint(f"end of phase {phase}", phase=phase)
                self._emit("phase", phase=phase, status="end")
            self.phase = None
            return "completed"
        except Aborted as exc:
            self._append("incident.abort", {"reason": str(exc) or "responder aborted"})
            self._checkpoint("aborted")
            return "aborted"

    async def _run_step(self, step: AnyStep, state: StepState) -> None:
        self._append("step.start", {"step": step.id, "phase": state.phase,
                                    "kind": state.kind, "title": state.title})
        while True:
            self._set_status(state, StepStatus.RUNNING)
            try:
                if step.when and not compile_condition(step.when).evaluate(
                        self.inputs, self._steps_view()):
                    self._skip(state, f"condition is false: {step.when}")
                elif isinstance(step, ManualStep):
                    await self._manual(step, state)
                elif isinstance(step, PromptStep):
                    await self._prompt(step, state)
                elif isinstance(step, NoteStep):
                    text = self._text(step.note)
                    state.text = text
                    self._append("note", {"step": step.id, "text": text})
                    self._finish(state, {})
                else:
                    await self._action(step, state)
                return
            except RescindError as caught:
                exc = self._shown_error(caught)
                self.in_flight = False
                state.error = exc.message
                self._set_status(state, StepStatus.DECLINED if exc.kind == "declined"
                                 else StepStatus.FAILED)
                self._append("step.failed", {"step": step.id, "error": str(exc),
                                             "kind": exc.kind})
                choice = await self.responder.on_failure(state, exc)
                self._append("step.choice", {"step": step.id, "choice": choice.choice,
                                             "reason": choice.reason})
                if choice.choice == "retry":
                    state.error = None
                    continue
                if choice.choice == "skip":
                    self._skip(state, choice.reason or "skipped by the responder")
                    return
                raise Aborted(choice.reason or f"aborted at step {step.id}") from caught

    def _shown_error(self, error: RescindError) -> ActionError:
        """The failure as the responder sees it: an ActionError (not every failure is
        one, e.g. a reference to an output a skipped step never produced), with every
        secret value redacted, since the front end shows what it is given."""
        if isinstance(error, ActionError):
            kind, retryable = error.kind, error.retryable
        else:
            kind, retryable = ErrorKind.ERROR, False
        return ActionError(self._scrub(error.message), kind=kind,
                           fix=self._scrub(error.fix) if error.fix else None,
                           retryable=retryable)

    async def _manual(self, step: ManualStep, state: StepState) -> None:
        state.text = self._text(step.manual)
        self._set_status(state, StepStatus.WAITING)
        note = await self.responder.acknowledge(state)
        state.note = note
        self._append("manual.ack", {"step": step.id, "text": state.text, "note": note})
        self._finish(state, {"note": note or ""})

    async def _prompt(self, step: PromptStep, state: StepState) -> None:
        state.text = self._text(step.prompt)
        self._set_status(state, StepStatus.WAITING)
        while True:
            answer = await self.responder.answer(state, step.default, step.secret)
            if step.pattern and not re.fullmatch(step.pattern, answer):
                self._emit("warning", message=f"the answer must match {step.pattern}")
                continue
            break
        if step.secret and answer:
            self._secret_values.add(answer)
        self._append("prompt.answer", {"step": step.id, "question": state.text,
                                       "answer": REDACTED if step.secret else answer})
        # A secret answer stays in memory for later steps and is never journaled.
        self._finish(state, {"answer": answer}, secret_keys={"answer"} if step.secret else set())

    async def _action(self, step: ActionStep, state: StepState) -> None:
        action_cls = registry.get(step.action)
        if action_cls is None:  # validation prevents this unless the registry changed
            raise ActionError(f"unknown action {step.action}", retryable=False)
        action = action_cls()
        raw = resolve(step.with_, self.inputs, self.outputs)
        if step.max_targets is not None:
            raw = {**raw, "max_targets": step.max_targets} if "max_targets" in (
                action.params_model.model_fields) else raw
        try:
            params = action.parse_params(raw)
        except ValueError as exc:
            raise ActionError(f"bad parameters for {step.action}: {exc}", kind="error",
                              retryable=False) from None
        ctx = self._context(step.id)
        plan = await _call(action.plan(ctx, params, step.id))
        # What is shown, hashed, signed and journaled is the plan with every secret
        # value redacted; apply alone gets the real values.
        shown = Plan.model_validate(self._scrub(plan.model_dump(mode="json"))
                                    | {"incident": self.incident_id})
        state.plan = shown
        state.text = shown.summary
        plan_file = self._write_plan(shown)
        self._append("action.plan", {"step": step.id, "action": step.action,
                                     "plan_hash": shown.digest,
                                     "plan": shown.model_dump(mode="json")})
        policy = required_approval(shown, self.mode)
        planned = plan.digest
        await self._approve(state, shown, policy, plan_file)
        if plan.digest != planned or plan_file.read_bytes() != shown.canonical_bytes():
            raise ActionError("the plan changed after it was approved; refusing to apply",
                              kind="conflict", fix="retry to plan and approve again")
        self.in_flight = plan.mutating
        self._append("action.intent", {"step": step.id, "plan_hash": shown.digest,
                                       "targets": plan.targets})
        result = await _call(action.apply(ctx, plan))
        public, secret_outputs = _split_outputs(result, action.secret_outputs)
        public = {**plan.outputs, **public}
        self._secret_values |= {str(v) for v in secret_outputs.values() if str(v)}
        self._append("action.outcome", {"step": step.id, "plan_hash": shown.digest,
                                        "action": step.action, "targets": plan.targets,
                                        "ok": True, "outputs": public,
                                        "details": result.details, "undo": result.undo})
        self.in_flight = False
        for name, value in secret_outputs.items():
            self._emit("secret", step=step.id, name=name, value=value)
        if self.mode is Mode.DRY_RUN and plan.mutating:
            self._append("action.verify", {"step": step.id, "ok": None,
                                           "detail": "dry-run: no change was made to verify"})
        else:
            verification = await _call(action.verify(ctx, plan, result))
            self._append("action.verify", {"step": step.id, "ok": verification.ok,
                                           "detail": verification.detail})
            if not verification.ok:
                raise ActionError(f"verification failed: {verification.detail}", kind="error")
        if plan.mutating:
            self._checkpoint(f"after {step.id}", step=step.id)
        self._finish(state, {**public, **secret_outputs}, secret_keys=set(secret_outputs))

    async def _approve(self, state: StepState, plan: Plan, policy: Approval,
                       plan_file: Path) -> None:
        if policy is Approval.NONE:
            return
        expected = plan.targets or [plan.step_id]
        request = ApprovalRequest(step=state, plan=plan, policy=policy, plan_file=plan_file,
                                  expected_names=expected)
        while True:
            self._set_status(state, StepStatus.WAITING)
            response = await self.responder.approve(request)
            entry: dict[str, Any] = {"step": state.id, "plan_hash": plan.digest,
                                     "policy": policy.value, "by": self._responder_identity()}
            if not response.approved:
                self._append("action.approval", entry | {
                    "approved": False, "reason": response.reason or "declined"})
                raise ActionError("the responder declined the plan", kind="declined",
                                  fix="retry to re-plan, or skip with a reason")
            try:
                entry |= self._check_approval(policy, response, plan, plan_file, expected)
            except ApprovalRefused as exc:
                self._append("action.approval", entry | {"approved": False,
                                                         "reason": exc.message})
                self._emit("warning", message=exc.message)
                continue
            self._append("action.approval", entry | {"approved": True})
            self._set_status(state, StepStatus.RUNNING)
            return

    def _check_approval(self, policy: Approval, response: ApprovalResponse, plan: Plan,
                        plan_file: Path, expected: list[str]) -> dict[str, Any]:
        if policy is Approval.TYPE_NAME:
            if (response.typed or "").strip() not in expected:
                raise ApprovalRefused(
                    f"typed name does not match; type one of: {', '.join(expected)}")
            return {"typed": response.typed}
        if policy is Approval.TWO_PERSON:
            from rescind.record.approval import check_approval, store_approval

            if not response.token:
                raise ApprovalRefused("a two-person approval needs a token from "
                                      f"`rescind approve {plan_file}`")
            trusted = trusted_approvers(self.mode, self.settings)
            info = check_approval(response.token, plan_file.read_bytes(),
                                  requester_fingerprint=self.signer.fingerprint,
                                  trusted=trusted)
            token_path = store_approval(self.incident_dir, plan.step_id, plan.digest, info)
            checked = (f"key in {trusted}" if trusted is not None else
                       "exercise default: any second key (no approvers list configured)")
            if trusted is None:
                self._emit("warning", message=f"exercise: the approval by {info.fingerprint} "
                                              "was accepted from any second key; live mode "
                                              "needs --approvers")
            return {"approver": {"fingerprint": info.fingerprint,
                                 "public_key_line": info.public_key_line,
                                 "principal": info.principal},
                    "approver_trust": checked,
                    "token": str(token_path.relative_to(self.incident_dir))}
        return {}

    async def _reverify(self, pending: dict[str, Any]) -> None:
        """An intent without an outcome: find out from the cloud whether it happened."""
        step_id = pending["step"]
        step = self._defs.get(step_id)
        if not isinstance(step, ActionStep):
            return
        try:
            plan = Plan.model_validate(pending["plan"])
        except ValueError:
            plan = None
        if plan is None or plan.step_id != step_id or plan.action != step.action:
            self._emit("warning", message=f"the journal names no usable plan for {step_id}'s "
                                          "change; it will be planned again")
            return
        action_cls = registry.get(step.action)
        if action_cls is None:
            return
        try:
            verification = await _call(action_cls().verify(self._context(step_id), plan, None))
        except ActionError as exc:
            # The check itself failed: the step runs again from its plan, which reads
            # the target's state as it is now, and asks for approval again.
            self._append("action.verify", {"step": step_id, "ok": None, "recovered": True,
                                           "detail": f"could not check: {exc.message}"})
            self._emit("warning", message=f"could not check whether {step_id} took effect "
                                          f"({exc.message}); it will be planned again")
            return
        self._append("action.verify", {"step": step_id, "ok": verification.ok,
                                       "detail": verification.detail, "recovered": True})
        state = self._state(step_id)
        if verification.ok:
            # A signed outcome knows what the apply returned (the key's user, say);
            # without one, what was known at planning is all there is.
            outputs = {**plan.outputs, **pending.get("outputs", {})}
            self._append("action.outcome", {"step": step_id, "plan_hash": plan.digest,
                                            "action": step.action, "targets": plan.targets,
                                            "ok": True, "outputs": outputs,
                                            "recovered": True,
                                            "details": ["confirmed by verify after a crash"]})
            self._checkpoint(f"after {step_id} (recovered)", step=step_id)
            self._finish(state, outputs)
        else:
            self._emit("warning", message=f"step {step_id} did not take effect before the "
                                          "interruption; it will be planned again")

    # ------------------------------------------------------------------ closing

    async def close(self) -> CloseInfo:
        """Seal the incident: report.md, SHA256SUMS, its signature, allowed_signers."""
        if self.in_flight:
            raise UsageError("an action is still in flight", fix="wait for it to finish")
        from rescind.record.sealing import finish_seal

        self._write_timeline_exports()
        self._append("incident.close", {"status": "closed"})
        anchor = self._checkpoint("incident closed")
        # The same steps `rescind seal` completes after a crash in this window.
        result = finish_seal(self.journal, self.signer, self.incident_id)
        self.closed = True
        sealed = result.sealed
        info = CloseInfo(report=result.report, sums=sealed.sums, signature=sealed.signature,
                         allowed_signers=sealed.allowed_signers,
                         verify_command=sealed.verify_command, anchor=anchor)
        self._emit("closed", report=str(info.report), verify_command=info.verify_command)
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
        if state.pending_intent:
            text += (f"; 1 change was in flight ({state.pending_intent['step']}) and is "
                     "re-checked with the cloud first")
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
        return {k: (REDACTED if k in self.secret_inputs else v) for k, v in self.inputs.items()}

    def _public_outputs(self) -> dict[str, dict[str, Any]]:
        secret = self._secret_output_keys
        return {sid: {k: (REDACTED if (sid, k) in secret else v) for k, v in outs.items()}
                for sid, outs in self.outputs.items()}

    def _finish(self, state: StepState, outputs: dict[str, Any],
                secret_keys: set[str] | None = None) -> None:
        self.outputs[state.id] = outputs
        if secret_keys:
            self._secret_output_keys |= {(state.id, k) for k in secret_keys}
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
        self._emit("step", step=state.id, status=status.value)

    def _scrub(self, value: Any) -> Any:
        """Replace every known secret value inside ``value`` with the redaction mark.

        The last line of defence: whatever path a secret took into a plan, an error
        message or a note, it does not reach the journal or the screen.
        """
        if not self._secret_values:
            return value
        if isinstance(value, str):
            for secret in self._secret_values:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        return value

    def _append(self, kind: str, data: dict[str, Any]) -> int:
        if self.closed:
            raise UsageError(f"incident {self.incident_id} is closed and sealed: its record "
                             "is read-only", fix="start a new incident to record more")
        entry = self.journal.append(kind, self._scrub(data))
        self._emit("journal", seq=entry.seq, kind=kind, time=entry.time, sha256=entry.sha256)
        return entry.seq

    def _emit(self, event_kind: str, /, **data: Any) -> None:
        if event_kind != "secret":  # the one event meant to show a secret, once
            data = self._scrub(data)
        self.responder.event(EngineEvent(event_kind, data))

    def _checkpoint(self, reason: str, **extra: Any) -> Anchor:
        anchor = checkpoint(self.journal, self.signer, self.incident_id, reason, extra or None)
        self.anchors.append(anchor)
        self._emit("journal", seq=anchor.seq, kind="checkpoint", time="", sha256=anchor.sha256)
        self._emit("anchor", line=anchor.line)
        return anchor

    def _responder_identity(self) -> dict[str, str]:
        return {"name": self.signer.name, "email": self.signer.email,
                "fingerprint": self.signer.fingerprint}

    def _write_plan(self, plan: Plan) -> Path:
        from rescind.record.approval import plan_path
        from rescind.record.journal import ensure_private_dir, write_private_file

        path = plan_path(self.incident_dir, plan.step_id, plan.digest)
        ensure_private_dir(path.parent)
        write_private_file(path, plan.canonical_bytes())
        return path

    def _context(self, step_id: str) -> ActionContext:
        def journal(kind: str, data: dict[str, Any]) -> int:
            return self._append(kind, {"step": step_id, **data})

        def progress(done: int, total: int, message: str) -> None:
            self._emit("progress", step=step_id, done=done, total=total, message=message)

        def evidence(name: str, data: bytes) -> Path:
            from rescind.record.journal import ensure_private_dir, write_private_file

            path = self.incident_dir / "evidence" / name
            ensure_private_dir(path.parent)
            write_private_file(path, data)
            return path

        return ActionContext(mode=self.mode, incident_dir=self.incident_dir,
                             providers=self._providers or {}, journal=journal,
                             progress=progress, evidence=evidence, settings=self.settings)

    def _on_blocked(self, call: BlockedCall) -> None:
        step = next((s.id for s in self.steps if s.status is StepStatus.RUNNING), None)
        self._append("dryrun.blocked", {"step": step, "provider": call.provider,
                                        "operation": call.operation, "params": call.params,
                                        "text": call.describe()})
        self._emit("blocked", step=step, operation=call.operation, params=call.params)


def _refuse_closed(incident_dir: Path, entries: list[Entry]) -> None:
    """A closed incident is not resumed; one whose seal was interrupted is completed
    by `rescind seal`. A close among unsigned lines is not trusted: resume goes on
    and re-checks them."""
    from rescind.record.sealing import close_is_trusted, is_closed

    if not is_closed(incident_dir) or not close_is_trusted(incident_dir, entries):
        return
    if (incident_dir / "SHA256SUMS").is_file():
        raise UsageError(f"incident {incident_dir.name} is already closed and sealed",
                         fix=f"check it with `rescind verify {incident_dir}`")
    raise UsageError(f"incident {incident_dir.name} was closed, but its seal was not finished",
                     fix=f"`rescind seal {incident_dir}` completes it")


def _recorded_email(entries: list[Entry], key: Path) -> str | None:
    """The email this incident's journal already records for ``key``'s owner.

    Resuming with one's own SSH key then needs no --email again (in the app too).
    """
    from rescind.record.keys import public_key_of
    from rescind.record.sshsig import fingerprint

    try:
        wanted = fingerprint(public_key_of(key))
    except RescindError:
        return None  # load_signer reports the unreadable key properly
    for entry in entries:
        responder = entry.data.get("responder")
        if isinstance(responder, dict) and responder.get("fingerprint") == wanted:
            return str(responder.get("email")) or None
    return None


def _nothing() -> None:
    pass


async def _call(awaitable: Any) -> Any:
    """Await an action coroutine, turning an unexpected exception into an ActionError.

    A bug in an action must end the step with a message and a choice, never a
    traceback that loses the responder's place.
    """
    try:
        return await awaitable
    except (ActionError, Aborted, asyncio.CancelledError):
        raise
    except RescindError as exc:
        raise ActionError(exc.message, fix=exc.fix) from exc
    except Exception as exc:
        raise ActionError(f"unexpected {type(exc).__name__}: {exc}", kind="error") from exc


def _split_outputs(result: Result, secret_names: tuple[str, ...]) -> tuple[dict[str, Any],
                                                                            dict[str, Any]]:
    public = {k: v for k, v in result.outputs.items() if k not in secret_names}
    secret = {k: v for k, v in result.outputs.items() if k in secret_names}
    return public, secret


_SECRET_KEY_PARTS = ("secret", "token", "password", "credential", "external_id", "key_id")


def _public_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings worth recording, for resume; credentials dropped at every depth.

    A key id goes with its secret: journaled alone, it would pair with another
    secret on resume."""
    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items()
                    if not (is_secret_key(str(k)) or "keyid" in normalize(str(k)))}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value if isinstance(value, str | int | float | bool | type(None)) else str(value)

    cleaned: dict[str, Any] = clean(settings)
    return cleaned
