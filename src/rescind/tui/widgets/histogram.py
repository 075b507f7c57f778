"""Bars of events per interval across the top of the timeline, with the responder's actions.

One row of bars per source (sparkline blocks, one column an interval), a row of
failures, and a row marking rescind's own actions (the journal's) on the same axis: ``▲`` the
first change that contained, ``●`` other changes, ``·`` read-only steps, ``✗``
a failed one, ``◆`` the attacker's last action. The last line says the gap.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from rescind.timeline.histogram import Histogram
from rescind.tui.sources import source_style

LABEL = 15  # columns of the row labels
BLOCKS = " ▁▂▃▄▅▆▇█"
FAILURE_COLOUR = "#ff5f5f"
ATTACKER_COLOUR = "#ff5f5f"


def _clock(stamp: float, *, date: bool = False) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%m-%d %H:%M" if date else "%H:%M:%S")


def _span(seconds: float) -> str:
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s" if m else f"{seconds:.1f}s"


class IncidentHistogram(Widget):
    """The incident over time; ``histogram`` is the model (timeline/histogram.py)."""

    DEFAULT_CSS = """
    IncidentHistogram { height: auto; max-height: 8; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.histogram = Histogram()

    def show(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self.refresh(layout=True)

    @property
    def columns(self) -> int:
        return max(self.content_size.width - LABEL, 1)

    def bars(self, columns: int) -> dict[str, list[int]]:
        """Each series' counts summed into ``columns`` intervals (the model's bins are finer)."""
        hist = self.histogram
        out: dict[str, list[int]] = {}
        for name, counts in [*hist.series.items(), ("failures", hist.failures)]:
            row = [0] * columns
            for b, n in enumerate(counts):
                row[b * columns // max(hist.bins, 1)] += n
            out[name] = row
        return out

    def column_of(self, stamp: float, columns: int) -> int:
        hist = self.histogram
        span = max(hist.end - hist.start, 1e-9)
        return max(0, min(columns - 1, int((stamp - hist.start) / span * columns)))

    def marks(self, columns: int) -> dict[int, str]:
        """Column → the mark drawn there on the responder's row."""
        hist = self.histogram
        out: dict[int, str] = {}
        rank = {"·": 0, "●": 1, "✗": 2, "◆": 3, "▲": 4}  # what wins a shared column
        found: list[tuple[int, str]] = []
        for action in hist.actions:
            mark = "✗" if not action.ok else "●" if action.changes else "·"
            if action.time == hist.contained and action.ok and action.changes:
                mark = "▲"
            found.append((self.column_of(action.time, columns), mark))
        if hist.attacker_last is not None:
            found.append((self.column_of(hist.attacker_last, columns), "◆"))
        for column, mark in found:
            if rank[mark] >= rank.get(out.get(column, "·"), 0):
                out[column] = mark
        return out

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        if not self.histogram.bins:
            return 1
        return len(self.histogram.series) + 3

    def render(self) -> RenderableType:
        hist = self.histogram
        if not hist.bins:
            return Text("no events to draw yet", style="dim")
        columns = self.columns
        bars = self.bars(columns)
        peak = max((max(row) for name, row in bars.items() if name != "failures"), default=0)
        lines = Text(no_wrap=True, overflow="crop")
        for name, row in bars.items():
            style = source_style(name)
            colour = FAILURE_COLOUR if name == "failures" else style.colour
            label = "failures" if name == "failures" else style.short or style.label
            lines.append(f"{label[:LABEL - 1]:<{LABEL}}", style=Style(color=colour, bold=True))
            cells = "".join(BLOCKS[0] if not n else
                            BLOCKS[max(1, round(n / max(peak, 1) * (len(BLOCKS) - 1)))]
                            for n in row)
            lines.append(cells + "\n", style=Style(color=colour))
        lines.append(f"{'actions':<{LABEL}}", style="bold")
        marks = self.marks(columns)
        for column in range(columns):
            mark = marks.get(column, " ")
            colour = ATTACKER_COLOUR if mark in "◆✗" else "#e070e0"
            lines.append(mark, style=Style(color=colour, bold=True))
        lines.append("\n")
        lines.append(self.legend(columns), style="dim")
        return lines

    def legend(self, columns: int) -> str:
        hist = self.histogram
        # Long incidents name the day: the columns then span hours.
        day = hist.end - hist.start > 86400
        parts = []
        if hist.attacker_last is not None:
            parts.append(f"◆ attacker's last {_clock(hist.attacker_last, date=day)}")
        if hist.contained is not None:
            parts.append(f"▲ contained {_clock(hist.contained, date=day)}")
        gap = hist.gap
        if gap is not None:
            parts.append(f"gap {_span(abs(gap))}" + (" (attacker acted after)" if gap < 0
                                                      else ""))
        # The point first (the gap); the axis and the key are cut first on a narrow screen.
        parts.append(f"{_clock(hist.start, date=day)}→{_clock(hist.end, date=day)} UTC, "
                     f"{_span((hist.end - hist.start) / columns)}/column")
        parts.append("● change  · read  ✗ failed")
        return " · ".join(parts)
