"""The incident header: mode banner (always with its word), runbook, elapsed time, head."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from rescind.modes import Mode
from rescind.tui import clock
from rescind.tui.widgets.plain import Plain


class IncidentHeader(Vertical):
    """Line one: mode banner, runbook title, elapsed time. Line two: incident id and head.

    The banner says LIVE, DRY-RUN or EXERCISE in words; red, amber and blue only
    reinforce it (NO_COLOR terminals still read the word).
    """

    def __init__(self) -> None:
        super().__init__(id="incident-header")
        self._started: datetime | None = None
        self._incident_id = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="header-top"):
            yield Plain(" … ", id="mode-banner")
            yield Plain("opening the incident…", id="header-title")
            yield Plain("", id="header-clock")
        yield Plain("", id="header-ids")

    def on_mount(self) -> None:
        self.set_interval(1, self._tick)

    def show_incident(self, mode: Mode, title: str, incident_id: str,
                      started: datetime) -> None:
        banner = self.query_one("#mode-banner", Static)
        banner.update(f" {mode.banner} ")
        banner.set_classes(f"mode-{mode.value}")
        self.query_one("#header-title", Static).update(Text(f" {title}", style="bold"))
        self._started = started
        self._incident_id = incident_id
        self._tick()

    def show_head(self, head: str, seq: int) -> None:
        ids = Text.assemble(("incident ", "dim"), (self._incident_id, "bold"),
                            ("  head ", "dim"), (head[:16], "bold"), (f"…  seq {seq}", "dim"))
        self.query_one("#header-ids", Static).update(ids)

    def _tick(self) -> None:
        if self._started is not None:
            clock_text = f"elapsed {clock.elapsed(self._started)} "
            self.query_one("#header-clock", Static).update(clock_text)
