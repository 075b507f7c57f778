"""Rebuild an incident's progress from its journal, for resume and the home screen."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rescind.record.journal import Entry


@dataclass
class RecoveredState:
    incident: str = ""
    runbook_id: str = ""
    runbook_title: str = ""
    runbook_path: str = ""
    runbook_sha256: str = ""
    mode: str = "exercise"
    started: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    phases_ended: set[str] = field(default_factory=set)
    # An action whose intent is journaled without an outcome: {"step", "plan"}.
    pending_intent: dict[str, Any] | None = None
    closed: bool = False
    aborted: bool = False
    # (step, changes) of each mutating plan applied, in order; in a dry-run these are
    # what the guards blocked, which the resumed overlay carries again.
    applied_changes: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    # The last step begun, and its phase: where an interrupted incident stopped.
    last_step: str = ""
    last_phase: str = ""


def recover(entries: Iterable[Entry]) -> RecoveredState:
    state = RecoveredState()
    plans: dict[str, dict[str, Any]] = {}
    for entry in entries:
        data = entry.data
        kind = entry.kind
        step = str(data.get("step", ""))
        if kind == "incident.open":
            runbook = data.get("runbook", {})
            state.incident = data.get("incident", "")
            state.runbook_id = runbook.get("id", "")
            state.runbook_title = runbook.get("title", "")
            state.runbook_path = runbook.get("path", "")
            state.runbook_sha256 = runbook.get("sha256", "")
            state.mode = data.get("mode", "exercise")
            state.inputs = dict(data.get("inputs", {}))
            state.settings = dict(data.get("settings", {}))
            state.started = entry.time
        elif kind == "step.start":
            state.last_step, state.last_phase = step, str(data.get("phase", ""))
        elif kind == "action.plan":
            plans[step] = data.get("plan", {})
        elif kind == "action.intent":
            state.pending_intent = {"step": step, "plan": plans.get(step, {})}
        elif kind in ("action.outcome", "step.failed"):
            if state.pending_intent and state.pending_intent["step"] == step:
                state.pending_intent = None
            plan = plans.get(step, {})
            if kind == "action.outcome" and data.get("ok") and plan.get("mutating"):
                state.applied_changes.append((step, list(plan.get("changes", []))))
        elif kind == "step.done":
            state.done.add(step)
            state.skipped.discard(step)
            state.outputs[step] = dict(data.get("outputs", {}))
        elif kind == "step.skipped":
            state.skipped.add(step)
        elif kind == "phase.end":
            state.phases_ended.add(data.get("phase", ""))
        elif kind == "incident.close":
            state.closed = True
        elif kind == "incident.abort":
            state.aborted = True
    return state
