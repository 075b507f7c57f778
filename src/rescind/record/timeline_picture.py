"""``timeline.svg``: the incident over time, beside report.md and sealed with it.

The same model as the bars on the timeline screen (rescind.timeline.histogram):
stacked bars of pulled events per interval by source, failures as a line of red
ticks under them, and the responder's actions (the journal's ``action.outcome``
entries) on the same axis, with the attacker's last action and the first change
that contained drawn as vertical lines so the gap between them shows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from rescind.record.after_action import duration, svg_text
from rescind.record.journal import Entry, write_private_file
from rescind.timeline.histogram import Histogram, build
from rescind.timeline.incident import TIMELINE_FILE, load_events
from rescind.timeline.merge import event_from_journal

PICTURE = "timeline.svg"
BINS = 120
# One colour per timeline source, as on the screen (tui/sources.py, which the record
# may not import); others are grey.
COLOURS = {"cloudtrail": "#ff9900", "graph.audit": "#3b9cff", "graph.signin": "#5fd7ff",
           "azure.activity": "#8f9cff", "gcp.audit": "#34c759"}


def incident_histogram(folder: Path, entries: list[Entry]) -> Histogram:
    """Pulled events of ``folder`` plus the journal's own actions, binned for the picture."""
    path = folder / TIMELINE_FILE
    events = load_events(path) if path.is_file() else []
    relevant = {str(e.data.get("uid")): bool(e.data.get("relevant", True))
                for e in entries if e.kind == "timeline.relevant"}
    for event in events:
        event.relevant = relevant.get(event.uid, event.relevant)
    own = [e for e in (event_from_journal(entry.data | {"time": entry.time})
                       for entry in entries if entry.kind == "action.outcome") if e]
    return build([*events, *own], BINS)


def write_timeline_picture(folder: Path, entries: list[Entry]) -> bool:
    """Write the picture (atomically, 0600); False when there is nothing to draw."""
    hist = incident_histogram(folder, entries)
    if not hist.bins:
        return False
    write_private_file(folder / PICTURE, render_svg(hist, folder.name).encode())
    return True


def _clock(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def summary(hist: Histogram) -> str:
    """The picture's point in words: the attacker's last action, containment, the gap."""
    last = _clock(hist.attacker_last) if hist.attacker_last is not None else "not known"
    contained = _clock(hist.contained) if hist.contained is not None else "not contained"
    gap = hist.gap
    tail = "" if gap is None else (f"; gap {duration(gap)}" if gap >= 0 else
                                   f"; the attacker acted {duration(-gap)} after it")
    return f"Attacker's last action {last} UTC; contained {contained} UTC{tail}."


def render_svg(hist: Histogram, incident: str) -> str:
    left, right, top, plot_h = 130, 30, 40, 160
    width = 900
    plot_w = width - left - right
    base = top + plot_h
    lanes_y = base + 30  # the failures and responder rows under the bars
    axis_y = lanes_y + 50
    legend_y = axis_y + 40
    height = legend_y + 18 * (len(hist.series) + 2) + 10
    bar_w = plot_w / hist.bins
    totals = [sum(c[b] for c in hist.series.values()) for b in range(hist.bins)]
    peak = max(max(totals, default=0), 1)
    span = max(hist.end - hist.start, 1e-9)

    def x(stamp: float) -> float:
        return left + plot_w * min(max((stamp - hist.start) / span, 0.0), 1.0)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">',
           f"<title>{svg_text(incident)}: events over time and the responder's actions</title>",
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="{top - 15}">events per {escape(duration(hist.step))} '
           f"(peak {peak:,})</text>"]
    for b in range(hist.bins):
        y = float(base)
        for name, counts in hist.series.items():
            if not counts[b]:
                continue
            h = plot_h * counts[b] / peak
            y -= h
            out.append(f'<rect x="{left + b * bar_w:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                       f'height="{h:.1f}" fill="{COLOURS.get(name, "#a0a0a0")}"/>')
        if hist.failures[b]:
            out.append(f'<rect x="{left + b * bar_w:.1f}" y="{lanes_y - 6}" '
                       f'width="{bar_w:.1f}" height="10" fill="#c0392b" '
                       f'opacity="{0.3 + 0.7 * min(hist.failures[b] / peak * 4, 1):.2f}"/>')
    out.append(f'<text x="10" y="{lanes_y + 4}">failures</text>')
    out.append(f'<text x="10" y="{lanes_y + 29}">responder</text>')
    for action in hist.actions:
        fill = "#1f6feb" if action.ok and action.changes else "white"
        stroke = "#c0392b" if not action.ok else "#1f6feb"
        out.append(f'<circle cx="{x(action.time):.1f}" cy="{lanes_y + 25}" r="5" '
                   f'fill="{fill}" stroke="{stroke}" stroke-width="2">'
                   f"<title>{svg_text(action.label)}</title></circle>")
    for stamp, colour, label in ((hist.attacker_last, "#c0392b", "attacker's last action"),
                                 (hist.contained, "#1f6feb", "contained")):
        if stamp is None:
            continue
        out.append(f'<line x1="{x(stamp):.1f}" y1="{top}" x2="{x(stamp):.1f}" y2="{axis_y}" '
                   f'stroke="{colour}" stroke-dasharray="4 3"/>')
        anchor = "end" if label == "attacker's last action" else "start"
        nudge = -4 if anchor == "end" else 4
        out.append(f'<text x="{x(stamp) + nudge:.1f}" y="{top - 2}" text-anchor="{anchor}" '
                   f'fill="{colour}">{label}</text>')
    out.append(f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" '
               'stroke="black"/>')
    for k in range(5):
        tx = left + plot_w * k / 4
        out.append(f'<text x="{tx:.0f}" y="{axis_y + 16}" text-anchor="middle" '
                   f'font-size="10">{escape(_clock(hist.start + span * k / 4))}</text>')
    rows = [(COLOURS.get(name, "#a0a0a0"), name) for name in hist.series]
    for n, (colour, name) in enumerate(rows):
        y = legend_y + 18 * n
        out.append(f'<rect x="10" y="{y - 10}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="28" y="{y}">{svg_text(name)}</text>')
    out.append(f'<text x="10" y="{legend_y + 18 * len(rows) + 8}">'
               f"{svg_text(summary(hist))}</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
