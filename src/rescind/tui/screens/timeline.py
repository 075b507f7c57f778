"""The timeline: every pulled event and rescind's own actions, filterable, with the raw record.

Loading (reading and parsing the events) runs in a thread; the table shows the
events as soon as they are read, while the lower-case rows the filter scans are
built (seconds at a million events). Filtering runs on the keystroke over those
rows and repaints one screen of lines.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import Footer, Input, Static

from rescind.engine.responder import EngineEvent, EventKind
from rescind.errors import RescindError
from rescind.timeline import histogram
from rescind.timeline.event import Event
from rescind.tui.filter import EventFilter, Rows
from rescind.tui.modals.export import ExportModal
from rescind.tui.palette import PaletteItem
from rescind.tui.sources import source_style
from rescind.tui.widgets.event_table import EventTable
from rescind.tui.widgets.histogram import IncidentHistogram
from rescind.tui.widgets.plain import Plain
from rescind.tui.workers import ReportsFailures

if TYPE_CHECKING:
    from rescind.engine.session import IncidentSession

FILTER_HELP = ("words match anywhere; actor: action: source: ip: result: target: region: "
               "account: for one column; -word excludes; since: until: take UTC times like "
               "2026-11-20T10:30; relevant:yes")


# The model's intervals; the widget sums them into as many columns as it has.
HISTOGRAM_BINS = 240

# File names the export dialog suggests; the names close() writes for the same formats.
_FILE_NAMES = {"ocsf": "timeline.ocsf.jsonl", "timesketch": "timeline.timesketch.jsonl",
               "csv": "timeline.csv", "raw": "timeline.raw.jsonl",
               "jsonl": "timeline.events.jsonl"}


def export_formats() -> dict[str, str]:
    """Every format the engine exports, with the file name each suggests."""
    from rescind.timeline.export import FORMATS

    return {name: _FILE_NAMES.get(name, f"timeline.{name}") for name in FORMATS}


class TimelineScreen(ReportsFailures, Screen[None]):
    HELP_TITLE = "Timeline"
    # Read when the screen first opens, not before home's first frame (rescind.tcss).
    CSS_PATH = Path(__file__).with_name("timeline.tcss")
    HELP = "Filter syntax: " + FILTER_HELP
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", id="timeline.filter",
                tooltip="Type to narrow the events"),
        Binding("m", "mark", "Mark relevant", id="timeline.mark",
                tooltip="Flag the event as relevant (journaled, flagged in exports)"),
        Binding("e", "export", "Export", id="timeline.export",
                tooltip="Write the timeline in one of the engine's formats"),
        Binding("d", "toggle_detail", "Detail", id="timeline.detail",
                tooltip="Show or hide the raw event"),
        Binding("f5", "reload", "Reload", id="timeline.reload", show=False,
                tooltip="Read the timeline again from the incident folder"),
        Binding("escape", "back", "Back", id="timeline.back"),
    ]

    def __init__(self, incident_dir: Path | None, *, session: IncidentSession | None = None,
                 updates: Signal[list[EngineEvent]] | None = None,
                 events: Sequence[Event] | None = None) -> None:
        """Shows ``session``'s timeline, or a closed incident's (read-only), or ``events``."""
        super().__init__()
        self.incident_dir = incident_dir
        self.session = session
        self._updates = updates
        self.events: Sequence[Event] = events or []
        self.rows = Rows(())
        self._preloaded = events is not None
        self._generation = 0
        self.filter = EventFilter()

    def compose(self) -> ComposeResult:
        name = self.incident_dir.name if self.incident_dir is not None else "events"
        yield Plain(f"Timeline  {name}", id="timeline-title")
        yield IncidentHistogram(id="timeline-histogram")
        with Horizontal(id="timeline-filter-row"):
            yield Plain("filter › ", id="timeline-filter-label")
            yield Input(placeholder="/ e.g. actor:alice result:failure since:2026-11-20T10",
                        id="timeline-filter", compact=True)
        yield Plain("", id="timeline-status")
        yield EventTable(id="timeline-table")
        with VerticalScroll(id="timeline-detail"):
            yield Plain("", id="timeline-raw")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(EventTable)
        table.focus()
        if self._updates is not None:
            self._updates.subscribe(self, self._on_engine_events)
        # Said in the status line, not with a loading overlay: the table keeps focus.
        self.query_one("#timeline-status", Static).update("reading the timeline…")
        self._load()

    def _on_engine_events(self, events: list[EngineEvent]) -> None:
        # A finished step may have pulled or added events (a pull, one of our own actions),
        # and so does pulling again.
        if any((e.kind is EventKind.STEP and e.data.get("status") == "done")
               or (e.kind is EventKind.JOURNAL and e.data.get("kind") == "timeline.pull_again")
               for e in events):
            self._load()

    def _load(self) -> None:
        # Each load is numbered: a thread worker cannot be stopped, so an older read
        # (begun before a pull again finished) could otherwise land after a newer one
        # and put back the timeline without the pulled events.
        self._generation += 1
        self._read_in_thread(self._generation)

    @work(thread=True, exclusive=True, group="timeline-load", exit_on_error=False)
    def _read_in_thread(self, generation: int) -> None:
        events = list(self.events) if self._preloaded else self._read_events()
        painted = threading.Event()
        self.app.call_from_thread(self._unindexed, generation, events, painted.set)
        # The index waits for the first rows to reach the screen: built at once, it
        # would hold the interpreter while the first frame is drawn.
        painted.wait(timeout=5)
        rows = Rows(events)
        picture = histogram.build(events, HISTOGRAM_BINS)
        self.app.call_from_thread(self._loaded, generation, events, rows, picture)

    def _read_events(self) -> list[Event]:
        if self.session is not None:
            events: list[Event] = self.session.timeline()
            return events
        from rescind.engine.timeline import load_timeline
        from rescind.record.journal import read_entries

        assert self.incident_dir is not None
        return load_timeline(self.incident_dir,
                             list(read_entries(self.incident_dir / "journal.jsonl")))

    def work_failed(self, group: str, text: str) -> None:
        if group == "timeline-load":
            self.query_one("#timeline-status", Static).update(
                Text(f"✗ could not read the timeline: {text} (F5 tries again)",
                     style="bold red"))

    def _unindexed(self, generation: int, events: list[Event],
                   painted: Callable[[], None]) -> None:
        """The first rows on screen before the filter's rows exist; a filter waits for them."""
        self.call_after_refresh(painted)
        if generation != self._generation:
            return  # a newer load is under way
        if self.filter.key != EventFilter().key:
            return  # showing every event would contradict the filter already typed
        self.events = events
        self.query_one(EventTable).set_events(events, range(len(events)))
        self.query_one("#timeline-status", Static).update(
            Text(f"{len(events):,} events · indexing for the filter…", style="bold"))

    def _loaded(self, generation: int, events: list[Event], rows: Rows,
                picture: histogram.Histogram) -> None:
        if generation != self._generation:
            return  # a newer load is under way: this one read an older timeline
        self.events = events
        self.rows = rows
        self.query_one(IncidentHistogram).show(picture)
        table = self.query_one(EventTable)
        table.set_events(events, self.filter.apply(rows), same_day=rows.same_day)
        self._status()

    # ---------------------------------------------------------------- filter

    @on(Input.Changed, "#timeline-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.apply_filter(event.value)

    def apply_filter(self, text: str) -> None:
        self.filter = EventFilter.parse(text)
        if len(self.rows) != len(self.events):
            return  # still indexing: _loaded applies the filter
        self.query_one(EventTable).show(self.filter.apply(self.rows))
        self._status()

    @on(Input.Submitted, "#timeline-filter")
    def _filter_submitted(self) -> None:
        self.query_one(EventTable).focus()

    def _status(self) -> None:
        shown = self.query_one(EventTable).row_count
        relevant = self.rows.relevant_count
        text = Text(f"{shown:,} of {len(self.rows):,} events", style="bold")
        text.append(f" · {relevant} marked relevant", style="dim")
        for problem in self.filter.problems:
            text.append(f" · {problem}", style="yellow")
        self.query_one("#timeline-status", Static).update(text, layout=False)

    # ---------------------------------------------------------------- detail

    @on(EventTable.Highlighted)
    def _highlighted(self, message: EventTable.Highlighted) -> None:
        found = self.query("#timeline-raw").results(Static)
        raw = next(found, None)
        if raw is None:  # the screen is closing
            return
        if message.index < 0:
            raw.update("No event matches the filter." if self.rows else "No events yet.")
            return
        raw.update(event_detail(self.events[message.index]))

    @on(EventTable.Selected)
    def _selected(self) -> None:
        detail = self.query_one("#timeline-detail")
        detail.display = True
        detail.focus()

    # --------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "mark":
            return self.session is not None and not self.session.closed
        if action == "reload":
            return not self._preloaded
        return True

    def action_focus_filter(self) -> None:
        self.query_one("#timeline-filter", Input).focus()

    def action_back(self) -> None:
        field = self.query_one("#timeline-filter", Input)
        if self.focused is field and field.value:
            field.value = ""  # Escape in the filter clears it first
            return
        if self.focused is not self.query_one(EventTable):
            self.query_one(EventTable).focus()
        else:
            self.app.pop_screen()

    def action_toggle_detail(self) -> None:
        detail = self.query_one("#timeline-detail")
        detail.display = not detail.display

    def action_reload(self) -> None:
        self._load()

    def action_mark(self) -> None:
        table = self.query_one(EventTable)
        index = table.current_index
        if index < 0 or self.session is None:
            return
        event = self.events[index]
        relevant = not event.relevant
        self.session.mark_relevant(event.uid, relevant)
        event.relevant = relevant
        self.rows.set_relevant(index, relevant)
        table.refresh()
        self._status()
        self.query_one("#timeline-raw", Static).update(event_detail(event))

    def action_export(self) -> None:
        folder = self.incident_dir or Path.cwd()
        if self.session is None or self.session.closed:
            # A sealed folder must not gain files: SHA256SUMS would no longer match it.
            folder = folder.parent
        self.app.push_screen(ExportModal(export_formats(), folder), self._export_chosen)

    def _export_chosen(self, choice: tuple[str, Path] | None) -> None:
        if choice is not None:
            self._export(*choice)

    @work(thread=True, group="timeline-export", exit_on_error=False)
    def _export(self, fmt: str, path: Path) -> None:
        try:
            if self.session is not None and not self.session.closed:
                self.session.export_timeline(fmt, path)
                count = len(self.events)
            else:
                from rescind.timeline.export import export

                count = export(list(self.events), path, fmt)
        except (OSError, ValueError, RescindError) as exc:
            self.app.call_from_thread(self.notify, f"Export failed: {exc}", severity="error",
                                      markup=False)
            return
        self.app.call_from_thread(self.notify, f"{count:,} events written to {path}",
                                  title=f"Export: {fmt}", markup=False)

    def palette_items(self) -> list[PaletteItem]:
        items = [PaletteItem("Export timeline", "OCSF, Timesketch, CSV and more",
                             self.action_export),
                 PaletteItem("Filter the timeline", FILTER_HELP, self.action_focus_filter)]
        if self.check_action("mark", ()):
            items.append(PaletteItem("Mark event relevant", "Toggle the flag on the event "
                                     "under the cursor (journaled)", self.action_mark))
        if self.check_action("reload", ()):
            # Not "Pull timeline": that name is the incident's pull again, which this
            # item shadowed from here (the palette asks the top screen first).
            items.append(PaletteItem("Reload timeline", "Read the record's timeline "
                                     "again (F5); Pull timeline asks the cloud",
                                     self.action_reload))
        return items


def event_detail(event: Event) -> RenderableType:
    style = source_style(event.source)
    head = Text()
    head.append(f"{event.time.isoformat()}  ", style="bold")
    head.append(f"[{style.label}]", style=f"bold {style.colour}")
    head.append(f"  {event.action}  {event.result.upper()}")
    if event.relevant:
        head.append("  ★ RELEVANT", style="bold yellow")
    lines = [head]
    for label, value in (("actor", event.actor), ("credential", event.credential),
                         ("target", event.target), ("source IP", event.source_ip),
                         ("user agent", event.user_agent), ("region", event.region),
                         ("account", event.account), ("error", event.error),
                         ("description", event.description), ("uid", event.uid)):
        if value:
            lines.append(Text.assemble((f"{label:>11}: ", "dim"), str(value)))
    raw = json.dumps(event.raw, indent=2, sort_keys=True, default=str) if event.raw else "—"
    lines.append(Text("\nraw event", style="bold"))
    lines.append(Text(raw))
    return Group(*lines)
