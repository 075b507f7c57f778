"""``report.md``: the human summary of an incident, rendered from the journal alone.

Who, what, when, each phase and step with its outcome, the anchors, and the exact
commands that verify the folder with stock tools. Everything comes from journal
entries, which the engine has already redacted; nothing here un-redacts or adds
values from elsewhere.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescind.record.approval import APPROVAL_NAMESPACE
from rescind.record.bundle import responder_emails, verify_command
from rescind.record.checkpoint import INCIDENT_NAMESPACE, Anchor
from rescind.record.journal import Entry

PHASES = ("contain", "assess", "notify", "remediate", "document")
# record-format.md's chain check, verbatim (exit 1 at a broken link, 2 at a torn line).
CHAIN_CHECK = "\n".join([
    "expect=0000000000000000000000000000000000000000000000000000000000000000; n=0",
    'while IFS= read -r line || '
    '{ [ -n "$line" ] && echo "torn last line $((n+1))" && exit 2; }; do',
    '  [ "$(printf \'%s\' "$line" | cut -c10-73)" = "$expect" ] || '
    '{ echo "chain broken at line $((n+1))"; exit 1; }',
    "  expect=$(printf '%s\\n' \"$line\" | sha256sum | cut -d' ' -f1); n=$((n+1))",
    'done < journal.jsonl; echo "OK lines=$n head=$expect"',
])
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def md(value: Any) -> str:
    """User-supplied text as inert Markdown: escaped, one paragraph per line."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           sort_keys=True)
    return "  \n  ".join(_MD_SPECIAL.sub(r"\\\1", line) for line in text.splitlines() or [""])


def code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           sort_keys=True)
    text = text.replace("\n", " ")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def when(time: str) -> str:
    """2026-11-23T03:14:15.926535Z -> 03:14:15Z (the date is in the header)."""
    return f"{time[11:19]}Z" if len(time) >= 19 else time


def person(who: Any) -> str:
    if not isinstance(who, dict):
        return md(who) if who else "unknown"
    parts = [md(who.get("name") or "")]
    if who.get("email"):
        parts.append(f"<{md(who['email'])}>")
    if who.get("fingerprint"):
        parts.append(code(who["fingerprint"]))
    return " ".join(p for p in parts if p) or "unknown"


@dataclass
class _Step:
    id: str
    phase: str | None
    title: str = ""
    kind: str = ""
    status: str = "started"
    lines: list[str] = field(default_factory=list)


def _plan_lines(plan: Any, plan_hash: str) -> list[str]:
    if not isinstance(plan, dict):
        return [f"plan {code(plan_hash)}"]
    head = f"plan {code(plan_hash)}: {code(plan.get('action', '?'))}"
    if plan.get("risk"):
        head += f", risk {md(plan['risk'])}"
    if plan.get("reversible") is not None:
        head += ", reversible" if plan["reversible"] else ", irreversible"
    out = [head]
    if plan.get("summary"):
        out.append(f"  - {md(plan['summary'])}")
    if plan.get("targets"):
        out.append("  - targets: " + ", ".join(code(t) for t in plan["targets"]))
    for ch in plan.get("changes") or []:
        if isinstance(ch, dict):
            out.append(f"  - change: {code(ch.get('target'))} {md(ch.get('field'))}: "
                       f"{code(ch.get('before'))} → {code(ch.get('after'))}")
    for w in plan.get("warnings") or []:
        out.append(f"  - warning: {md(w)}")
    return out


def _step_line(e: Entry) -> list[str]:
    """The list item(s) an entry about a step adds to that step's block."""
    d, t = e.data, when(e.time)
    k = e.kind
    if k == "step.start":
        return [f"{t} started"]
    if k == "step.skipped":
        return [f"{t} **skipped**: {md(d.get('reason', ''))}"]
    if k == "manual.ack":
        line = f"{t} done: {md(d.get('text', ''))}"
        return [line + (f"  \n  note: {md(d['note'])}" if d.get("note") else "")]
    if k == "prompt.answer":
        return [f"{t} asked: {md(d.get('question', ''))}  \n  answer: {md(d.get('answer', ''))}"]
    if k == "note":
        return [f"{t} note: {md(d.get('text', ''))}"]
    if k == "action.plan":
        lines = _plan_lines(d.get("plan"), str(d.get("plan_hash", "")))
        return [f"{t} {lines[0]}", *lines[1:]]
    if k == "action.approval":
        plan = code(str(d.get("plan_hash", ""))[:12])
        if d.get("approved"):
            line = f"{t} approved ({md(d.get('policy', ''))}) plan {plan} by {person(d.get('by'))}"
            if isinstance(d.get("approver"), dict):
                line += f"; second approver key {code(d['approver'].get('fingerprint', '?'))}"
        else:
            line = f"{t} **not approved** ({md(d.get('policy', ''))}) plan {plan} by " \
                   f"{person(d.get('by'))}"
            if d.get("reason"):
                line += f": {md(d['reason'])}"
        return [line]
    if k == "action.intent":
        targets = d.get("targets") or []
        return [f"{t} applying plan {code(str(d.get('plan_hash', ''))[:12])} to "
                + (", ".join(code(x) for x in targets) if targets else "its targets")]
    if k == "dryrun.blocked":
        return [f"{t} dry-run blocked: would call {code(d.get('operation', '?'))} with "
                f"{code(d.get('params', {}))}"]
    if k == "action.outcome":
        if d.get("ok"):
            out = [f"{t} applied plan {code(str(d.get('plan_hash', ''))[:12])}: ok"]
        else:
            out = [f"{t} **apply failed**: {md(d.get('error', 'unknown error'))}"]
        out += [f"  - {md(x)}" for x in d.get("details") or []]
        if d.get("outputs"):
            out.append(f"  - outputs: {code(d['outputs'])}")
        return out
    if k == "action.verify":
        verdict = "verified" if d.get("ok") else "**verification failed**"
        return [f"{t} {verdict}" + (f": {md(d['detail'])}" if d.get("detail") else "")]
    if k == "step.done":
        out = [f"{t} done"]
        if d.get("outputs"):
            out[0] += f", outputs {code(d['outputs'])}"
        return out
    if k == "step.failed":
        return [f"{t} **failed** ({md(d.get('kind', 'error'))}): {md(d.get('error', ''))}"]
    if k == "step.choice":
        line = f"{t} responder chose **{md(d.get('choice', ''))}**"
        return [line + (f": {md(d['reason'])}" if d.get("reason") else "")]
    rest = {key: v for key, v in d.items() if key != "step"}
    return [f"{t} {md(k)}" + (f": {code(rest)}" if rest else "")]


_SESSION_KINDS = frozenset({"incident.resume", "incident.close", "journal.torn"})
_STATUS = {"step.done": "done", "step.failed": "failed", "step.skipped": "skipped",
           "step.start": "started"}


def _event_line(e: Entry) -> str:
    d, t = e.data, when(e.time)
    if e.kind == "checkpoint":
        return f"{t} checkpoint, seq {e.seq} ({md(d.get('reason', ''))})"
    if e.kind == "incident.resume":
        who = f" by {person(d['responder'])}" if isinstance(d.get("responder"), dict) else ""
        return f"{t} **resumed**{who}"
    if e.kind == "journal.torn":
        return (f"{t} a crash had torn the journal's last line: {d.get('dropped_bytes')} bytes "
                f"(sha256 {code(d.get('dropped_sha256', ''))}) dropped on resume")
    if e.kind == "incident.close":
        return f"{t} closed: {md(d.get('status', ''))}"
    if e.kind == "note":
        return f"{t} note: {md(d.get('text', ''))}"
    return f"{t} {md(e.kind)}" + (f": {code(d)}" if d else "")


def _responders(entries: list[Entry]) -> list[str]:
    seen: dict[str, str] = {}
    for e in entries:
        who = None
        if e.kind in ("incident.open", "incident.resume"):
            who = e.data.get("responder")
        elif e.kind == "action.approval":
            who = e.data.get("by")
        if isinstance(who, dict):
            key = str(who.get("fingerprint") or who.get("email") or who.get("name"))
            seen.setdefault(key, person(who))
    return list(seen.values())


def verification_commands(signer_email: str, anchors: list[Anchor],
                          emails: dict[str, str] | None = None) -> list[str]:
    """The stock-tool commands (run from the incident folder), in the order to run them."""
    cmds = [verify_command(signer_email), "sha256sum -c SHA256SUMS"]
    for a in anchors:
        email = (emails or {}).get(a.fingerprint, signer_email)
        cmds.append(f"head -n {a.seq + 1} journal.jsonl | ssh-keygen -Y verify -f allowed_signers "
                    f"-I {shlex.quote(email)} -n {INCIDENT_NAMESPACE} "
                    f"-s signatures/journal.{a.seq}.sig")
    return cmds


def approval_commands(entries: list[Entry]) -> list[str]:
    """One stock check per two-person approval: the approver's token over its plan file."""
    cmds = []
    for e in entries:
        d = e.data
        if e.kind != "action.approval" or not d.get("approved") or not d.get("approver"):
            continue
        name = f"{d.get('step')}.{str(d.get('plan_hash', ''))[:12]}"
        sig = shlex.quote(f"signatures/approval.{name}.sig")
        plan = shlex.quote(f"plans/{name}.json")
        cmds.append(f"ssh-keygen -Y verify -f allowed_signers -I \"$(ssh-keygen -Y "
                    f"find-principals -f allowed_signers -s {sig})\" -n {APPROVAL_NAMESPACE} "
                    f"-s {sig} < {plan}")
    return cmds


def _picture_section(incident_dir: Path, entries: list[Entry]) -> list[str]:
    """The incident over time (timeline.svg, written before this report) and its point."""
    from rescind.record.timeline_picture import PICTURE, incident_histogram, summary

    if not (Path(incident_dir) / PICTURE).is_file():
        return []
    return ["## The incident over time", "",
            f"![events per interval by source, and the responder's actions]({PICTURE})", "",
            md(summary(incident_histogram(Path(incident_dir), entries))), ""]


def render_report(incident_dir: Path, entries: list[Entry], *, signer_email: str,
                  anchors: list[Anchor]) -> str:
    """The Markdown report for ``entries`` (the whole journal, in order)."""
    opened = next((e for e in entries if e.kind == "incident.open"), None)
    info = opened.data if opened else {}
    incident = str(info.get("incident") or Path(incident_dir).name)
    runbook: dict[str, Any] = info.get("runbook") or {}
    if not isinstance(runbook, dict):
        runbook = {}
    closed = next((e for e in reversed(entries) if e.kind == "incident.close"), None)

    steps: dict[str, _Step] = {}
    blocks: dict[str | None, list[tuple[str, str]]] = {}
    spans: dict[str, list[str]] = {}  # phase -> [start time, end time]
    phase: str | None = None
    for e in entries:
        if e.kind == "incident.open":
            continue
        if e.kind in ("phase.start", "phase.end"):
            # Entries after a phase's end (its checkpoint) still belong to it.
            phase = str(e.data.get("phase"))
            blocks.setdefault(phase, [])
            spans.setdefault(phase, [e.time, ""])[e.kind == "phase.end"] = e.time
            continue
        step_id = e.data.get("step")
        if e.kind in _SESSION_KINDS:
            blocks.setdefault(None, []).append(("event", _event_line(e)))
            if e.kind == "incident.close":
                phase = None  # the closing checkpoint belongs to the session, not a phase
        elif isinstance(step_id, str) and step_id and e.kind != "checkpoint":
            step = steps.get(step_id)
            if step is None:
                step = steps[step_id] = _Step(step_id, e.data.get("phase") or phase)
                blocks.setdefault(step.phase, []).append(("step", step_id))
            if e.kind == "step.start":
                step.title = str(e.data.get("title") or "")
                step.kind = str(e.data.get("kind") or "")
            step.status = _STATUS.get(e.kind, step.status)
            step.lines.extend(_step_line(e))
        else:
            blocks.setdefault(phase, []).append(("event", _event_line(e)))

    out = [f"# Incident {md(incident)}: {md(runbook.get('title') or 'incident')}", ""]
    rows = [("Incident", code(incident)),
            ("Runbook", (f"{md(runbook.get('title', ''))} ({code(runbook.get('id', '?'))}"
                         f", sha256 {code(str(runbook.get('sha256', ''))[:12])})")
             if runbook else "unknown"),
            ("Mode", md(str(info.get("mode", "unknown")).upper())),
            ("Responders", "; ".join(_responders(entries)) or "unknown"),
            ("Started", md(opened.time) if opened else "unknown"),
            ("Ended", f"{md(closed.time)} ({md(closed.data.get('status', ''))})" if closed
             else "not closed"),
            ("Journal", f"{len(entries)} lines, head "
                        f"{code(entries[-1].sha256 if entries else '')}"),
            ("Host", md(info.get("host", "unknown"))),
            ("rescind", md(info.get("rescind_version", "unknown")))]
    out += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    inputs = info.get("inputs")
    if isinstance(inputs, dict) and inputs:
        out += ["## Inputs", ""]
        out += [f"- {code(k)}: {code(v)}" for k, v in inputs.items()]
        out.append("")

    out += _picture_section(incident_dir, entries)
    order: list[str | None] = [p for p in PHASES if p in blocks]
    order += [p for p in blocks if p not in PHASES and p is not None]
    order += [None] if None in blocks else []
    for ph in order:
        span = spans.get(ph or "")
        times = f" ({when(span[0])} – {when(span[1]) if span[1] else 'not ended'})" \
            if span else ""
        out += [f"## {md(ph.capitalize()) + times if ph else 'Session'}", ""]
        for what, value in blocks[ph]:
            if what == "event":
                out.append(f"- {value}")
                continue
            s = steps[value]
            kind = f" ({md(s.kind)})" if s.kind else ""
            title = f": {md(s.title)}" if s.title else ""
            if out[-1]:
                out.append("")
            out += [f"### {code(s.id)}{kind}{title} — {s.status}", ""]
            out += [line if line.startswith("  - ") else f"- {line}" for line in s.lines]
            out.append("")
        if out[-1]:
            out.append("")

    out += ["## Anchors", ""]
    if anchors:
        out += ["Each line was shown when it was made; a copy kept outside this folder (ticket, "
                "chat) detects later truncation or rewriting of the journal.", "", "```text"]
        out += [a.line for a in anchors]
        out += ["```", ""]
    else:
        out += ["No checkpoint was signed.", ""]

    emails = responder_emails(entries)
    cmds = verification_commands(signer_email, anchors, emails)
    cmds += approval_commands(entries)
    out += ["## Verify this record", "",
            "From this folder, with OpenSSH and coreutils only (on macOS use `shasum -a 256` "
            "for `sha256sum`). Take `allowed_signers` from your team's own key list or the "
            "ticket rather than trusting the copy in this folder.", "", "```sh", *cmds, "```",
            "", "The hash chain, in plain shell (exit 1 at a broken link, 2 at a torn last "
            "line):", "", "```sh", CHAIN_CHECK, "```", "", "Or all at once with rescind:", "",
            "```sh"]
    anchor_args = "".join(f" \\\n    --anchor {shlex.quote(a.line)}" for a in anchors)
    out += [f"rescind verify .{anchor_args}", "```", ""]
    return "\n".join(out)
