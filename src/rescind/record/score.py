"""An exercise's score, computed from its journal (docs/exercises.md, "Scoring").

Every time is *exercise time*: seconds since ``incident.open``, less the time the
facilitator held the exercise paused (``exercise.pause`` → ``exercise.resume``),
plus the simulated time they skipped (``exercise.clock``). The scenario's facts
(compromised credentials, the responder's live permissions, the actions' declared
permissions, the debrief questions) come from the ``exercise.scenario`` entry the
engine journals at open; the injects from ``exercise.inject``. The only file read
besides the journal is ``timeline.jsonl``, to learn what a flagged event touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from rescind.errors import UsageError
from rescind.record.journal import Entry, read_entries

CONTAIN = "contain"
# Actions that change rescind's own record or tell people: not a change to a cloud.
NOT_CLOUD_CHANGES = ("notify.", "incident.", "timeline.")
SKIPPED_BY_CONDITION = "condition is false"
# What an action declares when it calls no cloud (incident.set_severity).
NO_PERMISSION = "none:"
# Actions that end every credential minted for the principal they change, from then on:
# an inject journals such a credential with its holder (``holders``), e.g. a role's
# session key, a service account's key, a service principal's secret, a user's refresh
# token (no shipped inject mints one yet; a scenario's or plugin's may).
CUTS_OFF_HOLDER = frozenset({
    "aws.iam.revoke_sessions", "aws.org.revoke_role_sessions", "aws.iam.quarantine_user",
    "gcp.sa.disable", "entra.sp.disable", "entra.user.disable", "entra.user.revoke_sessions"})


@dataclass(frozen=True)
class Credential:
    id: str
    source: str  # "scenario", or the inject that created it
    contained_s: float | None = None
    step: str | None = None


@dataclass(frozen=True)
class PhaseTime:
    phase: str
    seconds: float
    finished: bool


@dataclass(frozen=True)
class ApprovalWait:
    step: str
    policy: str
    seconds: float
    outcome: str  # "approved", or the decline's reason


@dataclass(frozen=True)
class Skip:
    step: str
    reason: str
    by_condition: bool


@dataclass(frozen=True)
class Inject:
    id: str
    summary: str
    trigger: str
    at_s: float
    targets: tuple[str, ...]
    noticed_s: float | None = None
    how: str = ""  # what noticed it: "flagged <event>" or "step <id>"


@dataclass(frozen=True)
class PermissionGap:
    step: str
    action: str
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Mark:
    """One point of the after-action picture."""

    seconds: float
    lane: str  # "attacker", "responder" or "facilitator"
    label: str
    ok: bool = True


@dataclass
class Score:
    incident: str
    runbook: str
    scenario: dict[str, Any]
    closed: bool
    duration_s: float
    first_change: tuple[float, str] | None = None  # (seconds, step)
    credentials: list[Credential] = field(default_factory=list)
    phases: list[PhaseTime] = field(default_factory=list)
    approvals: list[ApprovalWait] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # steps that failed at least once
    injects: list[Inject] = field(default_factory=list)
    permissions_known: bool = False
    gaps: list[PermissionGap] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    @property
    def all_contained_s(self) -> float | None:
        times = [c.contained_s for c in self.credentials]
        if not times or any(t is None for t in times):
            return None
        return max(t for t in times if t is not None)

    @property
    def debrief(self) -> list[str]:
        return [str(q) for q in self.scenario.get("debrief") or []]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class ExerciseClock:
    """Wall time → exercise time, from the journal's pause/resume/clock entries."""

    def __init__(self, entries: list[Entry]) -> None:
        self.start = _time(entries[0].time)
        self._paused: list[tuple[datetime, datetime | None]] = []
        self._advanced: list[tuple[datetime, float]] = []
        for e in entries:
            if e.kind == "exercise.pause" and not (self._paused and self._paused[-1][1] is None):
                self._paused.append((_time(e.time), None))
            elif e.kind == "exercise.resume" and self._paused and self._paused[-1][1] is None:
                self._paused[-1] = (self._paused[-1][0], _time(e.time))
            elif e.kind == "exercise.clock":
                advanced = e.data.get("advanced_s")
                if isinstance(advanced, int | float) and not isinstance(advanced, bool):
                    self._advanced.append((_time(e.time), float(advanced)))

    def at(self, when: str | datetime) -> float:
        t = _time(when) if isinstance(when, str) else when
        seconds = (t - self.start).total_seconds()
        for begun, ended in self._paused:
            if begun < t:
                seconds -= (min(ended or t, t) - begun).total_seconds()
        seconds += sum(s for at, s in self._advanced if at <= t)
        return max(seconds, 0.0)


def _tail(name: str, segments: int) -> str:
    return "/".join(name.replace(":", "/").split("/")[-segments:])


def _matches(credential: str, target: str) -> bool:
    """``deploy-bot`` is the target ``user/deploy-bot``; an id is itself. An inject names
    what it touched as the cloud logs it (a role's ARN), an action by name or
    ``role/NAME``: the ARN ``…:role/NAME`` is either."""
    if credential == target or credential == _tail(target, 1) or target == _tail(credential, 1):
        return True
    return "/" in credential and "/" in target and _tail(credential, 2) == _tail(target, 2)


def permitted(permission: str, allowed: Iterable[str]) -> bool:
    """IAM-style: ``iam:*`` covers ``iam:UpdateAccessKey``; case-insensitive."""
    p = permission.lower()
    return any(fnmatchcase(p, a.lower()) for a in allowed)


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def flagged_events(incident_dir: Path, uids: set[str]) -> dict[str, dict[str, str]]:
    """What each flagged event touched (target, credential, actor, action), from
    ``timeline.jsonl``; a missing or unreadable line only leaves that event unknown."""
    found: dict[str, dict[str, str]] = {}
    path = incident_dir / "timeline.jsonl"
    if not uids or not path.is_file():
        return found
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get("uid"), str) \
                    and event["uid"] in uids:
                found[str(event["uid"])] = {
                    k: str(event.get(k) or "") for k in ("target", "credential", "actor",
                                                          "action")}
    return found


def score_entries(entries: list[Entry], incident_dir: Path) -> Score:
    """The score of an exercise's journal (``entries``, in order)."""
    opened = entries[0].data if entries and entries[0].kind == "incident.open" else {}
    clock = ExerciseClock(entries)
    scenario = next((e.data for e in entries if e.kind == "exercise.scenario"), {})
    runbook = opened.get("runbook") if isinstance(opened.get("runbook"), dict) else {}
    closed = any(e.kind == "incident.close" for e in entries)
    score = Score(incident=str(opened.get("incident") or incident_dir.name),
                  runbook=str((runbook or {}).get("id") or ""), scenario=dict(scenario),
                  closed=closed, duration_s=clock.at(entries[-1].time))

    phase_of: dict[str, str] = {}
    plans: dict[str, dict[str, Any]] = {}  # step -> its latest plan entry's data
    plan_time: dict[str, str] = {}  # plan_hash -> when the plan was shown
    answers: dict[str, Entry] = {}  # plan_hash -> the last approval answer to it
    starts: dict[str, float] = {}
    spent: dict[str, float] = {}
    ended: set[str] = set()
    flags: list[tuple[float, str]] = []
    changes: list[tuple[float, str, list[str]]] = []  # (seconds, step, targets changed)
    touched: list[tuple[float, str, list[str]]] = []  # any plan or change naming targets
    credentials = {c: "scenario" for c in _strings(scenario.get("compromised"))}
    # A credential an inject minted for a principal: (holder, when it was minted).
    held: dict[str, tuple[str, float]] = {}
    injects: list[Inject] = []
    gaps: dict[str, PermissionGap] = {}
    allowed = scenario.get("responder_permissions")
    score.permissions_known = isinstance(allowed, list)
    declared = scenario.get("action_permissions")
    declared = declared if isinstance(declared, dict) else {}

    for e in entries:
        d, t = e.data, clock.at(e.time)
        step = str(d.get("step") or "")
        if e.kind == "phase.start":
            starts[str(d.get("phase"))] = t
        elif e.kind == "phase.end":
            ph = str(d.get("phase"))
            spent[ph] = spent.get(ph, 0.0) + t - starts.pop(ph, t)
            ended.add(ph)
        elif e.kind == "step.start":
            phase_of[step] = str(d.get("phase") or "")
        elif e.kind == "action.plan":
            plan = d.get("plan") if isinstance(d.get("plan"), dict) else {}
            plans[step] = {"action": str(d.get("action") or ""), **(plan or {})}
            plan_time[str(d.get("plan_hash"))] = e.time
            touched.append((t, f"step {step}", _strings((plan or {}).get("targets"))))
            action = plans[step]["action"]
            if isinstance(allowed, list) and step not in gaps:
                missing = tuple(p for p in _strings(declared.get(action))
                                if not p.startswith(NO_PERMISSION)
                                and not permitted(p, _strings(allowed)))
                if missing:
                    gaps[step] = PermissionGap(step, action, missing)
        elif e.kind == "action.approval" and str(d.get("plan_hash")) in plan_time:
            # A refused answer (a mistyped name) is asked again: the wait runs from the
            # plan to the last answer given to it.
            answers[str(d.get("plan_hash"))] = e
        elif e.kind == "action.target" and d.get("stage") == "outcome" and d.get("ok"):
            if _cloud_change(plans.get(step)):
                changes.append((t, step, [str(d.get("target") or "")]))
        elif e.kind == "action.outcome" and d.get("ok"):
            if _cloud_change(plans.get(step)):
                changes.append((t, step, _strings(d.get("targets"))))
            score.marks.append(Mark(t, "responder", f"{step} ({d.get('action')})"))
        elif e.kind == "action.outcome":
            score.marks.append(Mark(t, "responder", f"{step} failed", ok=False))
        elif e.kind == "step.failed" and step not in score.failed:
            score.failed.append(step)
        elif e.kind == "step.skipped":
            reason = str(d.get("reason") or "")
            score.skipped.append(Skip(step, reason, reason.startswith(SKIPPED_BY_CONDITION)))
            if not reason.startswith(SKIPPED_BY_CONDITION):
                score.marks.append(Mark(t, "responder", f"{step} skipped", ok=False))
        elif e.kind == "timeline.relevant" and d.get("relevant", True):
            flags.append((t, str(d.get("uid") or "")))
            score.marks.append(Mark(t, "responder", "flagged an event"))
        elif e.kind == "exercise.inject":
            # Placed by when it was journaled (as it fired), not by its ``at``: that may
            # be on the simulated clock, which exercise time already accounts for.
            targets = tuple(_strings(d.get("targets")))
            injects.append(Inject(str(d.get("id") or f"inject-{e.seq}"),
                                  str(d.get("summary") or ""), str(d.get("trigger") or ""),
                                  t, targets))
            score.marks.append(Mark(t, "attacker", str(d.get("summary") or d.get("id"))))
            for target in targets:
                credentials.setdefault(target, f"inject {d.get('id')}")
            holders = d.get("holders") if isinstance(d.get("holders"), dict) else {}
            for minted, holder in (holders or {}).items():
                if credentials.get(str(minted), "").startswith("inject"):
                    held.setdefault(str(minted), (str(holder), t))
        elif e.kind in ("exercise.pause", "exercise.resume", "exercise.clock") or (
                e.kind == "note" and d.get("by") == "facilitator"):
            what = {"exercise.pause": "paused", "exercise.resume": "resumed",
                    "exercise.clock": f"clock +{d.get('advanced_s')}s"}.get(
                e.kind, f"note: {d.get('text', '')}")
            score.marks.append(Mark(t, "facilitator", what))

    for plan_hash, answer in answers.items():
        d = answer.data
        score.approvals.append(ApprovalWait(
            str(d.get("step") or ""), str(d.get("policy") or ""),
            clock.at(answer.time) - clock.at(plan_time[plan_hash]),
            "approved" if d.get("approved") else str(d.get("reason") or "declined")))
    for ph, begun in starts.items():  # a phase still running when the journal ends
        spent[ph] = spent.get(ph, 0.0) + score.duration_s - begun
    order = dict.fromkeys(str(e.data.get("phase")) for e in entries if e.kind == "phase.start")
    score.phases = [PhaseTime(ph, spent.get(ph, 0.0), ph in ended) for ph in order]
    first = next(((t, s) for t, s, _ in changes if phase_of.get(s) == CONTAIN), None)
    score.first_change = first
    touched += [(t, f"step {s}", targets) for t, s, targets in changes]
    cuts = [(t, s, targets) for t, s, targets in changes
            if plans.get(s, {}).get("action") in CUTS_OFF_HOLDER]
    score.credentials = [_contained(c, source, changes, held.get(c), cuts)
                         for c, source in credentials.items()]
    uids = {uid for _, uid in flags}
    events = flagged_events(incident_dir, uids)
    score.injects = [_noticed(i, flags, events, touched) for i in injects]
    score.gaps = list(gaps.values())
    score.marks.sort(key=lambda m: m.seconds)
    return score


def _cloud_change(plan: dict[str, Any] | None) -> bool:
    return bool(plan and plan.get("mutating")
                and not str(plan.get("action", "")).startswith(NOT_CLOUD_CHANGES))


def _contained(credential: str, source: str, changes: list[tuple[float, str, list[str]]],
               held: tuple[str, float] | None = None,
               cuts: list[tuple[float, str, list[str]]] | None = None) -> Credential:
    """Contained by the first change to the credential itself or, for one minted for a
    holder, by cutting the holder off after it was minted (an earlier cut, such as
    revoking a role's sessions, leaves later sessions working)."""
    found = [(t, step) for t, step, targets in changes
             if any(_matches(credential, target) for target in targets)]
    if held is not None:
        holder, minted = held
        found += [(t, step) for t, step, targets in cuts or []
                  if t >= minted and any(_matches(holder, target) for target in targets)]
    if not found:
        return Credential(credential, source)
    t, step = min(found)
    return Credential(credential, source, t, step)


def _noticed(inject: Inject, flags: list[tuple[float, str]],
             events: dict[str, dict[str, str]],
             touched: list[tuple[float, str, list[str]]]) -> Inject:
    seen: list[tuple[float, str]] = []
    for t, uid in flags:
        event = events.get(uid, {})
        if t >= inject.at_s and any(_matches(target, v) or v == target
                                    for target in inject.targets
                                    for k, v in event.items() if k != "action" and v):
            seen.append((t, f"flagged {event.get('action') or 'an event'}"))
    for t, how, targets in touched:
        if t >= inject.at_s and any(_matches(c, x) for c in inject.targets for x in targets):
            seen.append((t, how))
    if not seen:
        return inject
    t, how = min(seen)
    return Inject(inject.id, inject.summary, inject.trigger, inject.at_s, inject.targets, t, how)


def load_score(incident_dir: Path) -> Score:
    """The score of the exercise in ``incident_dir``; UsageError for anything else."""
    journal = incident_dir / "journal.jsonl"
    if not journal.is_file():
        raise UsageError(f"{incident_dir} is not an incident folder (no journal.jsonl)",
                         fix="pass the folder `rescind run` created under incidents/")
    entries = list(read_entries(journal, allow_torn=True))
    mode = entries[0].data.get("mode") if entries else None
    if mode != "exercise":
        raise UsageError(f"incident {incident_dir.name} ran in {mode or 'an unknown'} mode; "
                         "only exercises are scored",
                         fix="run the runbook with --mode exercise to rehearse and be scored")
    return score_entries(entries, incident_dir)

