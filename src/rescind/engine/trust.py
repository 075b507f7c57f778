"""What resume may believe of a journal: the signed prefix, and what the rest claims.

Only what a responder's checkpoint signature covers is trusted (record/trust.py).
The unsigned tail may be a crash's last lines or lines someone appended; either
way its claims are not taken on faith: each change it claims is re-checked with
the cloud (the action's verify with no result), and every other step it claims
finished runs again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescind.engine.state import RecoveredState, recover
from rescind.errors import UsageError
from rescind.record.journal import Entry
from rescind.record.trust import SignedPrefix, signed_prefix


@dataclass
class TailReview:
    state: RecoveredState  # rebuilt from the trusted lines only
    prefix: SignedPrefix
    # Changes to re-check with the cloud: {"step", "plan"[, "outputs" of a signed
    # outcome]}, in journal order.
    recheck: list[dict[str, Any]] = field(default_factory=list)
    # Steps the unsigned lines claim finished, which run again unless re-checked.
    claimed: list[str] = field(default_factory=list)

    @property
    def unsigned(self) -> int:
        return self.prefix.unsigned

    def message(self) -> str:
        """What the responder is told; empty when every line was signed."""
        if not self.unsigned:
            return ""
        since = (f"the checkpoint at seq {self.prefix.through}" if self.prefix.through >= 0
                 else "the incident opened")
        parts = [f"{self.unsigned} journal line(s) after {since} were never signed by a "
                 "checkpoint, so they are not trusted"]
        if self.recheck:
            parts.append("re-checking with the cloud: "
                         + ", ".join(r["step"] for r in self.recheck))
        rerun = [s for s in self.claimed if s not in {r["step"] for r in self.recheck}]
        if rerun:
            parts.append("running again: " + ", ".join(rerun))
        return "; ".join(parts)

    def journal_data(self) -> dict[str, Any]:
        return {"from_seq": self.prefix.through + 1, "lines": self.unsigned,
                "recheck": [r["step"] for r in self.recheck], "claimed": self.claimed}


def review(incident_dir: Path, entries: list[Entry]) -> TailReview:
    """Split the journal into what resume trusts and what it must re-check."""
    if not entries:
        raise UsageError(f"incident {incident_dir.name} recorded nothing: its journal is "
                         "empty (it was interrupted while it was being opened)",
                         fix="start the incident again with `rescind run RUNBOOK`; this "
                             "folder holds nothing and can be deleted")
    prefix = signed_prefix(incident_dir, entries)
    # The opening line names the runbook and inputs and claims no change: an
    # incident interrupted before its first checkpoint is still resumable.
    trusted = entries[:max(prefix.through, 0) + 1]
    if trusted[0].kind != "incident.open":
        raise UsageError(f"{incident_dir.name}: the journal does not start with the "
                         "incident's opening entry",
                         fix=f"check it with `rescind verify {incident_dir}`")
    state = recover(trusted)
    out = TailReview(state=state, prefix=prefix)
    plans: dict[str, dict[str, Any]] = {}
    pending: dict[str, dict[str, Any]] = {}
    for entry in entries[:len(trusted)]:
        step = str(entry.data.get("step", ""))
        if entry.kind == "action.plan":
            plans[step] = entry.data.get("plan", {})
        elif entry.kind == "action.outcome" and step not in state.done:
            # The change's checkpoint is signed but its step.done (written just after)
            # is not: the cloud says whether it holds, and the signed outcome keeps
            # the outputs later steps need.
            pending[step] = {"step": step, "plan": plans.get(step, {}),
                             "outputs": dict(entry.data.get("outputs") or {})}
    if state.pending_intent:
        pending[state.pending_intent["step"]] = state.pending_intent
    for entry in entries[len(trusted):]:
        step = str(entry.data.get("step", ""))
        if entry.kind == "action.plan":
            plans[step] = entry.data.get("plan", {})
        elif entry.kind == "action.intent":
            pending[step] = {"step": step, "plan": plans.get(step, {})}
        elif entry.kind in ("step.done", "step.skipped") and step not in out.claimed:
            out.claimed.append(step)
    # Only a change needs the cloud's word; an interrupted read (a timeline pull, a
    # describe) simply runs again, so its outputs are real, not the plan's guesses.
    for item in pending.values():
        if item["plan"].get("mutating", True):
            out.recheck.append(item)
        elif item["step"] not in out.claimed:
            out.claimed.append(item["step"])
    state.pending_intent = None  # replaced by ``recheck``
    return out
