"""A table of timeline events that renders only the rows on screen.

Textual's stock DataTable builds every row up front and slows down past tens of
thousands of rows; a timeline has 100,000. This is a Line-API ScrollView (the way
toolong's log view works): filtering swaps a list of row positions and repaints
the visible lines, so a keystroke costs the filter plus one screen of rows.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import ClassVar, NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rescind.timeline.event import Event
from rescind.tui.sources import source_style


class Column(NamedTuple):
    key: str
    title: str
    width: int  # 0: shares what is left
    share: int = 0  # weight among the sharing columns
    min_width: int = 0  # drop the column below this total width


_COLUMNS = (
    Column("flag", "", 1),
    Column("time", "Time (UTC)", 19),
    Column("source", "Source", 14),
    Column("result", "Result", 6),
    Column("actor", "Actor", 0, 4),
    Column("action", "Action", 0, 3),
    Column("target", "Target", 0, 3, 76),
    Column("ip", "Source IP", 15, 0, 96),
)
# Right/Left scroll these; flag, time and source stay put.
_SCROLLING = _COLUMNS[3:]
_NARROW = 110
_RESULT_TEXT = {"success": "ok", "failure": "FAIL", "unknown": "?"}
# Columns whose end says most: arn:aws:iam::123456789012:user/deploy-bot.
_TAIL_FIRST = frozenset({"actor", "target"})


def _fit(text: str, width: int, *, tail: bool = False) -> str:
    """Pad or cut to ``width``; ``tail`` keeps the end (an ARN's user, not its prefix)."""
    if len(text) <= width:
        return text.ljust(width)
    if not width:
        return ""
    return "…" + text[len(text) - width + 1:] if tail else text[: width - 1] + "…"


class EventTable(ScrollView, can_focus=True):
    """The merged timeline, one event a line, with a cursor row."""

    HELP_TITLE = "Event list"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="table.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.pageup"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table.pagedown"),
        Binding("home,g", "jump(0)", "First", show=False, id="table.first"),
        Binding("end,G", "jump(-1)", "Last", show=False, id="table.last"),
        Binding("enter", "select", "Detail", show=False, id="table.select"),
        Binding("right,l", "columns(1)", "More columns", show=False, id="table.right",
                tooltip="Scroll the columns: Target and Source IP on a narrow terminal"),
        Binding("left,h", "columns(-1)", "Fewer columns", show=False, id="table.left"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "event-table--header", "event-table--cursor", "event-table--relevant",
        "event-table--failure",
    }
    DEFAULT_CSS = """
    EventTable { height: 1fr; overflow-x: hidden; }
    EventTable > .event-table--header { text-style: bold; background: $panel; }
    EventTable > .event-table--cursor { background: $accent 40%; text-style: bold; }
    EventTable:focus > .event-table--cursor { background: $accent; color: $text; }
    EventTable > .event-table--relevant { color: $warning; text-style: bold; }
    EventTable > .event-table--failure { color: $error; text-style: bold; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False, init=False)

    class Highlighted(Message):
        """The cursor moved to the event at ``index`` in the merged timeline (-1: none)."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class Selected(Highlighted):
        """Enter was pressed on the event at ``index``."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self._events: Sequence[Event] = ()
        self._visible: Sequence[int] = []  # indices into _events, in display order
        # The event the cursor was last on: a filter that briefly matches nothing
        # (half-typed) must not lose the responder's place.
        self._anchor = -1
        self._same_day = False  # every event on one date: the time column drops it
        self.skip = 0  # columns scrolled off to the left (Right/Left)

    # ------------------------------------------------------------------ data

    def set_events(self, events: Sequence[Event], visible: Sequence[int], *,
                   same_day: bool | None = None) -> None:
        """``same_day`` when known; else the first and last events decide (a sorted timeline)."""
        self._events = events
        if same_day is None:
            same_day = bool(events) and events[0].time.date() == events[-1].time.date()
        self._same_day = same_day
        self.show(visible)

    def show(self, visible: Sequence[int]) -> None:
        """Display these events (indices into the merged timeline), keeping the cursor's event."""
        current = self.current_index if self.current_index >= 0 else self._anchor
        self._visible = visible
        position = 0
        if current >= 0 and visible:
            # Keep the responder's place: the same event, or the next one that survived.
            at = bisect_left(visible, current)
            position = min(at, len(visible) - 1)
        self.virtual_size = Size(self.size.width, len(visible) + 1)
        self.cursor = position
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self._visible)

    @property
    def current_index(self) -> int:
        if 0 <= self.cursor < len(self._visible):
            return self._visible[self.cursor]
        return -1

    # ---------------------------------------------------------------- cursor

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._visible) - 1)) if self._visible else 0

    def watch_cursor(self, value: int) -> None:
        page = max(self.size.height - 1, 1)
        top = round(self.scroll_y)
        if value < top:
            self.scroll_to(y=value, animate=False, immediate=True)
        elif value >= top + page:
            self.scroll_to(y=value - page + 1, animate=False, immediate=True)
        self.refresh()
        if self.current_index >= 0:
            self._anchor = self.current_index
        self.post_message(self.Highlighted(self.current_index))

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(self.size.height - 2, 1)

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else len(self._visible) - 1

    def action_columns(self, delta: int) -> None:
        self.skip = max(0, min(self.skip + delta, len(_SCROLLING) - 1))
        self.refresh()

    def action_select(self) -> None:
        if self.current_index >= 0:
            self.post_message(self.Selected(self.current_index))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.cursor = round(self.scroll_y) + event.y - 1

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._visible) + 1)

    # --------------------------------------------------------------- drawing

    def _layout(self, width: int) -> list[tuple[Column, int]]:
        narrow = width < _NARROW
        fixed_part: list[Column] = []
        for column in _COLUMNS[:3]:
            if column.key == "time" and self._same_day:
                column = column._replace(title="Time", width=8)
            elif column.key == "source" and narrow:
                column = column._replace(width=10)
            fixed_part.append(column)
        rest = _SCROLLING[self.skip:]
        # Scrolled right, the columns dropped for width come back into view.
        columns = fixed_part + [c for c in rest if self.skip or width >= c.min_width]
        gaps = len(columns) - 1
        fixed = sum(c.width for c in columns) + gaps
        spare = max(width - fixed, 0)
        shares = sum(c.share for c in columns if not c.width)
        laid: list[tuple[Column, int]] = []
        left = spare
        sharing = [c for c in columns if not c.width]
        for column in columns:
            if column.width:
                laid.append((column, column.width))
                continue
            size = left if column is sharing[-1] else spare * column.share // shares
            left -= size
            laid.append((column, size))
        return laid

    def _cells(self, event: Event) -> dict[str, tuple[str, Style | None]]:
        style = source_style(event.source)
        result_style = (self.get_component_rich_style("event-table--failure")
                        if event.result == "failure" else None)
        return {
            "flag": ("★" if event.relevant else " ",
                     self.get_component_rich_style("event-table--relevant")),
            "time": (event.time.strftime("%H:%M:%S" if self._same_day else "%Y-%m-%d %H:%M:%S"),
                     None),
            "source": (style.short if self.size.width < _NARROW else style.label,
                       Style(color=style.colour, bold=True)),
            "result": (_RESULT_TEXT.get(event.result, event.result), result_style),
            "actor": (event.actor, None),
            "action": (event.action, None),
            "target": (event.target, None),
            "ip": (event.source_ip, None),
        }

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        layout = self._layout(width)
        if y == 0:
            header = self.get_component_rich_style("event-table--header")
            text = " ".join(_fit(column.title, size) for column, size in layout)
            return Strip([Segment(_fit(text, width), base + header)], width)
        position = round(self.scroll_y) + y - 1
        if position >= len(self._visible):
            return Strip.blank(width, base)
        event = self._events[self._visible[position]]
        row_style = base
        if position == self.cursor:
            row_style = base + self.get_component_rich_style("event-table--cursor")
        cells = self._cells(event)
        segments: list[Segment] = []
        for n, (column, size) in enumerate(layout):
            if n:
                segments.append(Segment(" ", row_style))
            text, style = cells[column.key]
            cell_style = row_style + style if style is not None else row_style
            if position == self.cursor and style is not None:
                cell_style = row_style + Style(bold=True)
            segments.append(Segment(_fit(text, size, tail=column.key in _TAIL_FIRST),
                                    cell_style))
        used = sum(size for _, size in layout) + len(layout) - 1
        if used < width:
            segments.append(Segment(" " * (width - used), row_style))
        return Strip(segments, width).crop(0, width)
