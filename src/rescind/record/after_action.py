"""The score in words: its table, what went well and what was missed, and the files
``after-action.md`` and ``after-action.svg`` that carry them with a picture.

Written at close beside ``report.md`` for exercise-mode incidents (sealing.py), so
SHA256SUMS covers them. The picture puts the attacker's injects, the responder's
actions and the facilitator's interventions on one exercise-time axis; the Markdown
carries a text rendering of the same picture for readers without an SVG viewer.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from rescind.record.journal import Entry, write_private_file
from rescind.record.report import code, md
from rescind.record.score import Mark, Score, score_entries

AFTER_ACTION = "after-action.md"
PICTURE = "after-action.svg"
LANES = ("attacker", "responder", "facilitator")
STRIP = 60  # columns of the text picture


def duration(seconds: float | None) -> str:
    """``1h 02m 03s`` / ``2m 05s`` / ``4.2s``; ``—`` for none."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def table(score: Score) -> list[tuple[str, str]]:
    """The score table: (what, result) rows, plain text."""
    rows: list[tuple[str, str]] = []
    first = score.first_change
    rows.append(("First containment change",
                 f"{duration(first[0])} (step {first[1]})" if first
                 else "none in the contain phase"))
    if score.credentials:
        contained = sum(c.contained_s is not None for c in score.credentials)
        rows.append(("Every compromised credential contained",
                     duration(score.all_contained_s) if score.all_contained_s is not None
                     else f"no: {contained} of {len(score.credentials)}"))
        for c in score.credentials:
            rows.append((f"  {c.id} ({c.source})",
                         f"{duration(c.contained_s)} (step {c.step})" if c.step
                         else "not contained"))
    else:
        rows.append(("Every compromised credential contained",
                     "the scenario lists no compromised credentials"))
    for ph in score.phases:
        rows.append((f"Phase {ph.phase}",
                     duration(ph.seconds) + ("" if ph.finished else " (not finished)")))
    if score.approvals:
        waits = [a.seconds for a in score.approvals]
        rows.append(("Approvals", f"{len(waits)}, waited {duration(sum(waits))} in all, "
                                  f"longest {duration(max(waits))}"))
        for a in score.approvals:
            rows.append((f"  {a.step} ({a.policy})", f"{duration(a.seconds)}, {a.outcome}"))
    else:
        rows.append(("Approvals", "none asked"))
    by_hand = [s for s in score.skipped if not s.by_condition]
    rows.append(("Steps skipped", f"{len(score.skipped)} ({len(by_hand)} by the responder)"))
    for s in score.skipped:
        rows.append((f"  {s.step}", s.reason))
    if score.injects:
        noticed = sum(i.noticed_s is not None for i in score.injects)
        rows.append(("Injects noticed", f"{noticed} of {len(score.injects)}"))
        for i in score.injects:
            if not i.targets:
                result = "nothing to notice it by (no target)"
            elif i.noticed_s is None:
                result = "missed"
            else:
                result = f"after {duration(i.noticed_s - i.at_s)} ({i.how})"
            rows.append((f"  {i.id} at {duration(i.at_s)}", result))
    else:
        rows.append(("Injects noticed", "no injects fired"))
    if not score.permissions_known:
        rows.append(("Would fail in live", "unknown: the scenario sets no "
                                           "responder_permissions"))
    else:
        rows.append(("Would fail in live", f"{len(score.gaps)} step(s)"))
        for g in score.gaps:
            rows.append((f"  {g.step} ({g.action})", "lacks " + ", ".join(g.missing)))
    return rows


def went_well(score: Score) -> list[str]:
    out: list[str] = []
    if score.first_change:
        out.append(f"First containment change after {duration(score.first_change[0])} "
                   f"(step {score.first_change[1]}).")
    for c in score.credentials:
        if c.contained_s is not None:
            out.append(f"{c.id} contained after {duration(c.contained_s)} (step {c.step}).")
    for i in score.injects:
        if i.noticed_s is not None:
            out.append(f"Inject {i.id} noticed {duration(i.noticed_s - i.at_s)} after it "
                       f"happened ({i.how}).")
    if score.permissions_known and not score.gaps:
        out.append("The live identity holds every permission the actions declare.")
    if not score.failed and score.closed:
        out.append("No step failed.")
    return out


def missed(score: Score) -> list[str]:
    out: list[str] = []
    if score.first_change is None:
        out.append("No change to a cloud was made in the contain phase.")
    for c in score.credentials:
        if c.contained_s is None:
            out.append(f"{c.id} ({c.source}) was never contained.")
    for i in score.injects:
        if i.targets and i.noticed_s is None:
            out.append(f"Inject {i.id} was missed: {i.summary or 'no summary'} "
                       f"(targets {', '.join(i.targets)}).")
    for s in score.skipped:
        if not s.by_condition:
            out.append(f"Step {s.step} was skipped: {s.reason}.")
    for step in score.failed:
        out.append(f"Step {step} failed at least once.")
    for g in score.gaps:
        out.append(f"Step {g.step} ({g.action}) would fail in live: the live identity "
                   f"lacks {', '.join(g.missing)}.")
    if not score.closed:
        out.append("The exercise did not reach its close.")
    return out


def svg_text(text: str) -> str:
    """Text content for the SVG: no control characters (not XML), escaped, bounded."""
    return escape("".join(c if c >= " " else " " for c in text)[:160])


def is_exercise(entries: list[Entry]) -> bool:
    return bool(entries) and entries[0].kind == "incident.open" \
        and entries[0].data.get("mode") == "exercise"


def write_after_action(folder: Path, entries: list[Entry]) -> None:
    """Write both files (atomically, 0600) for an exercise's journal."""
    score = score_entries(entries, folder)
    write_private_file(folder / PICTURE, render_svg(score).encode())
    write_private_file(folder / AFTER_ACTION, render_markdown(score).encode())


def _lanes(score: Score) -> list[str]:
    used = {m.lane for m in score.marks}
    return [lane for lane in LANES if lane in used or lane != "facilitator"]


def text_picture(score: Score) -> list[str]:
    """One row per lane; ``*`` an event, ``x`` a failure or skip, ``#`` several."""
    span = max(score.duration_s, 1e-9)
    rows = []
    for lane in _lanes(score):
        cells = [" "] * STRIP
        for m in score.marks:
            if m.lane != lane:
                continue
            i = min(STRIP - 1, int(m.seconds / span * STRIP))
            mark = "*" if m.ok else "x"
            cells[i] = mark if cells[i] == " " else "#"
        rows.append(f"{lane:>11} |{''.join(cells)}|")
    end = duration(score.duration_s)
    rows.append(f"{'':>11} 0{' ' * (STRIP + 1 - len(end))}{end}")
    return rows


def render_markdown(score: Score) -> str:
    sc = score.scenario
    name = str(sc.get("name") or "no scenario file")
    out = [f"# After-action report: {md(score.incident)}", "",
           "| | |", "|---|---|",
           f"| Scenario | {md(name)} |",
           f"| Runbook | {code(score.runbook)} |",
           f"| Exercise time | {md(duration(score.duration_s))}"
           f"{'' if score.closed else ' (not closed)'} |"]
    if sc.get("sha256"):
        out.append(f"| Scenario file | {code(sc.get('path', ''))}, sha256 "
                   f"{code(str(sc['sha256'])[:12])} |")
    out.append("")
    if sc.get("description"):
        out += [md(sc["description"]), ""]
    out += ["Times are exercise time: since the incident opened, less pauses, plus the "
            "simulated time the facilitator skipped.", "", "## Score", "",
            "| | |", "|---|---|"]
    out += [f"| {md(k.strip()) if not k.startswith('  ') else '&nbsp;&nbsp;' + md(k.strip())}"
            f" | {md(' '.join(v.split()))} |" for k, v in table(score)]
    out += ["", "## Attacker and responder on one time axis", "",
            f"![attacker and responder actions]({PICTURE})", "", "```text",
            *text_picture(score), "```", ""]
    if score.marks:
        out += ["| T+ | attacker | responder | facilitator |", "|---|---|---|---|"]
        for m in score.marks:
            cells = [md(m.label) + ("" if m.ok else " ✗") if lane == m.lane else ""
                     for lane in LANES]
            out.append(f"| {md(duration(m.seconds))} | " + " | ".join(cells) + " |")
        out.append("")
    out += ["## What went well", ""]
    out += [f"- {md(line)}" for line in went_well(score)] or ["- (nothing to single out)"]
    out += ["", "## What was missed", ""]
    out += [f"- {md(line)}" for line in missed(score)] or ["- Nothing the score measures."]
    out += ["", "## Debrief", ""]
    if score.debrief:
        out += [f"{n}. {md(q)}" for n, q in enumerate(score.debrief, 1)]
    else:
        out.append("The scenario defines no debrief questions (add a `debrief:` list to it).")
    out.append("")
    return "\n".join(out)


def render_svg(score: Score) -> str:
    """The time-axis picture: one lane per actor, numbered marks, a legend below."""
    lanes = _lanes(score)
    left, right, top, lane_h = 110, 30, 30, 50
    width = 900
    axis_y = top + lane_h * len(lanes)
    legend_y = axis_y + 50
    height = legend_y + 18 * max(len(score.marks), 1) + 20
    span = max(score.duration_s, 1e-9)

    def x(m: Mark) -> float:
        return left + (width - left - right) * min(m.seconds / span, 1.0)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">',
           f"<title>{svg_text(score.incident)}: attacker and responder actions</title>",
           f'<rect width="{width}" height="{height}" fill="white"/>']
    colour = {"attacker": "#c0392b", "responder": "#1f6feb", "facilitator": "#7d7d7d"}
    for i, lane in enumerate(lanes):
        y = top + lane_h * i + lane_h / 2
        out.append(f'<text x="10" y="{y + 4:.0f}">{lane}</text>')
        out.append(f'<line x1="{left}" y1="{y:.0f}" x2="{width - right}" y2="{y:.0f}" '
                   'stroke="#ddd"/>')
    out.append(f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" '
               'stroke="black"/>')
    for k in range(6):
        tx = left + (width - left - right) * k / 5
        out.append(f'<line x1="{tx:.0f}" y1="{axis_y}" x2="{tx:.0f}" y2="{axis_y + 5}" '
                   'stroke="black"/>')
        out.append(f'<text x="{tx:.0f}" y="{axis_y + 18}" text-anchor="middle">'
                   f"{escape(duration(span * k / 5))}</text>")
    for n, m in enumerate(score.marks, 1):
        y = top + lane_h * lanes.index(m.lane) + lane_h / 2
        fill = colour[m.lane] if m.ok else "white"
        out.append(f'<circle cx="{x(m):.1f}" cy="{y:.0f}" r="6" fill="{fill}" '
                   f'stroke="{colour[m.lane]}" stroke-width="2"/>')
        out.append(f'<text x="{x(m):.1f}" y="{y - 10:.0f}" text-anchor="middle" '
                   f'font-size="10">{n}</text>')
        out.append(f'<text x="10" y="{legend_y + 18 * (n - 1)}">'
                   f"{n}. T+{escape(duration(m.seconds))} {m.lane}: {svg_text(m.label)}"
                   f"{'' if m.ok else ' (failed or skipped)'}</text>")
    if not score.marks:
        out.append(f'<text x="10" y="{legend_y}">nothing happened on the axis</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
