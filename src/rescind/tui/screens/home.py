"""Home: the runbook library, the incidents in the incident folder, and "start an exercise".

The lists load in a thread after the first paint, so the screen appears at once
(runbook parsing imports pydantic and YAML; an incident's state is read from its
journal).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, OptionList
from textual.widgets.option_list import Option

from rescind.modes import Mode
from rescind.tui.palette import PaletteItem
from rescind.tui.widgets.lists import KeyedDataTable, KeyedOptionList
from rescind.tui.widgets.plain import Plain

# "Start an exercise" picks the first of these that is installed.
EXERCISE_RUNBOOKS = ("aws-access-key-compromise", "example-tabletop")
# Bold/reverse so a NO_COLOR terminal still tells HIGH from LOW at a glance.
SEVERITY_STYLE = {"low": "bold green", "medium": "bold yellow", "high": "bold reverse red",
                  "critical": "bold reverse red"}
STATE_STYLE = {"open": "bold cyan", "interrupted": "bold yellow", "closed": "green",
               "verified": "bold green", "damaged": "bold red"}


class HomeScreen(Screen[None]):
    HELP_TITLE = "Home"
    HELP = ("Pick a runbook to start an incident (exercise mode uses a simulated cloud), or "
            "pick an incident: an interrupted one resumes where it stopped, a closed one "
            "opens its record.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "exercise", "Start exercise", id="home.exercise",
                tooltip="Run the demo incident against a simulated cloud"),
        Binding("slash", "filter", "Filter", id="home.filter",
                tooltip="Type to filter the runbook library"),
        Binding("tab", "switch_pane", "Runbooks/Incidents", id="home.pane", show=False),
        Binding("f5", "reload", "Reload", id="home.reload", show=False,
                tooltip="Read runbooks and incidents again"),
        Binding("escape", "leave_filter", "Back to list", id="home.leave_filter", show=False),
    ]

    def __init__(self, incidents_root: Path) -> None:
        super().__init__()
        self.incidents_root = incidents_root
        self.runbooks: list[Any] = []  # rescind.runbook.library.RunbookInfo
        self.incidents: list[Any] = []  # rescind.engine.incidents.IncidentInfo

    def compose(self) -> ComposeResult:
        yield Plain(Text.assemble(("rescind", "bold"),
                                   ("  walk a leaked-credential incident from containment to "
                                    "a signed record", "dim")), id="home-title")
        with Vertical(id="library"):
            yield Plain("Runbooks  (Enter starts one · e starts the exercise)",
                         classes="pane-title")
            yield Input(placeholder="/ filter by title, cloud, severity", id="library-filter",
                        compact=True)
            yield KeyedOptionList(id="runbooks")
        with Vertical(id="incidents"):
            yield Plain(f"Incidents in {self.incidents_root}/  (Enter resumes or opens)",
                         classes="pane-title")
            table = KeyedDataTable(id="incident-table", cursor_type="row")
            yield table
        yield Footer()

    def on_mount(self) -> None:
        # A placeholder rather than a loading overlay: the list keeps keyboard focus.
        runbooks = self.query_one("#runbooks", OptionList)
        runbooks.add_option(Option(Text("reading runbooks…", style="dim"), disabled=True))
        runbooks.focus()
        # Start loading only after the first frame is on screen.
        self.call_after_refresh(self.action_reload)

    def on_screen_resume(self) -> None:
        if self.runbooks:
            self._load_incidents()

    # ------------------------------------------------------------------ data

    def action_reload(self) -> None:
        self._load_runbooks()
        self._load_incidents()

    @work(thread=True, exclusive=True, group="home-runbooks", exit_on_error=False)
    def _load_runbooks(self) -> None:
        from rescind.runbook.library import list_runbooks

        runbooks = list_runbooks()
        self.app.call_from_thread(self._show_runbooks, runbooks)

    @work(thread=True, exclusive=True, group="home-incidents", exit_on_error=False)
    def _load_incidents(self) -> None:
        from rescind.engine.incidents import list_incidents

        incidents = list_incidents(self.incidents_root)
        self.app.call_from_thread(self._show_incidents, incidents)

    def _show_runbooks(self, runbooks: list[Any]) -> None:
        self.runbooks = runbooks
        self._filter_runbooks(self.query_one("#library-filter", Input).value)

    def _filter_runbooks(self, text: str) -> None:
        words = text.lower().split()
        options = self.query_one("#runbooks", OptionList)
        shown = []
        for n, info in enumerate(self.runbooks):
            haystack = " ".join((info.id, info.title, info.description, info.severity,
                                 *info.clouds)).lower()
            if all(word in haystack for word in words):
                shown.append(Option(_runbook_prompt(info), id=str(n)))
        options.set_options(shown)
        if shown:
            options.highlighted = 0

    def _show_incidents(self, incidents: list[Any]) -> None:
        self.incidents = incidents
        table = self.query_one("#incident-table", DataTable)
        # Columns are rebuilt too, so their widths fit the new rows.
        table.clear(columns=True)
        table.add_columns("state", "incident", "mode", "started", "runbook")
        for n, info in enumerate(incidents):
            # State first: it decides what Enter does, and must survive a narrow terminal.
            table.add_row(Text(info.state, style=STATE_STYLE.get(info.state, "")),
                          Text(info.id), Text(info.mode.upper()),
                          Text(info.started[:16].replace("T", " ")),
                          Text(info.title or info.runbook_id), key=str(n))
        if not incidents:
            table.add_row(Text(""), Text("no incidents yet", style="dim"), Text(""), Text(""),
                          Text(""))

    @on(Input.Changed, "#library-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._filter_runbooks(event.value)

    @on(Input.Submitted, "#library-filter")
    def _filter_submitted(self) -> None:
        self.query_one("#runbooks").focus()

    # ----------------------------------------------------------- start/open

    @on(OptionList.OptionSelected, "#runbooks")
    def _runbook_chosen(self, event: OptionList.OptionSelected) -> None:
        self.start_runbook(self.runbooks[int(event.option.id or 0)])

    def start_runbook(self, info: Any, mode: Mode = Mode.EXERCISE) -> None:
        from rescind.errors import RescindError
        from rescind.runbook.validate import load_and_validate
        from rescind.tui.modals.confirm import NoticeModal
        from rescind.tui.modals.inputs_form import InputsForm

        try:
            loaded = load_and_validate(info.path)
        except RescindError as exc:
            self.app.push_screen(NoticeModal(f"{info.path.name} has problems", str(exc),
                                             error=True))
            return
        self.app.push_screen(InputsForm(loaded.runbook, info.path, mode=mode),
                             self._start_chosen)

    def _start_chosen(self, choice: Any) -> None:
        if choice is None:
            return
        from rescind.engine.session import SessionConfig
        from rescind.tui.runner import start_opener
        from rescind.tui.screens.incident import IncidentScreen

        config = SessionConfig(runbook=choice.runbook, mode=choice.mode, inputs=choice.inputs,
                               out_dir=self.incidents_root)
        self.app.push_screen(IncidentScreen(start_opener(config)))

    def open_incident(self, config: Any) -> None:
        """Open a new incident; inputs that are missing or wrong are asked for first."""
        from rescind.errors import RescindError
        from rescind.runbook.inputs import coerce_inputs
        from rescind.runbook.validate import load_and_validate
        from rescind.tui.modals.confirm import NoticeModal
        from rescind.tui.modals.inputs_form import InputsForm
        from rescind.tui.runner import start_opener
        from rescind.tui.screens.incident import IncidentScreen

        try:
            loaded = load_and_validate(config.runbook)
        except RescindError as exc:
            self.app.push_screen(NoticeModal(f"{config.runbook} has problems", str(exc),
                                             error=True))
            return
        try:
            coerce_inputs(loaded.runbook, config.inputs)
        except RescindError:
            def chosen(choice: Any) -> None:
                if choice is not None:
                    config.inputs = choice.inputs
                    self.open_incident(config)

            self.app.push_screen(InputsForm(loaded.runbook, config.runbook, mode=config.mode,
                                            values=config.inputs, fixed_mode=True), chosen)
            return
        self.app.push_screen(IncidentScreen(start_opener(config), key=config.key))

    def action_exercise(self) -> None:
        by_id = {info.id: info for info in self.runbooks if info.ok}
        for runbook_id in EXERCISE_RUNBOOKS:
            if runbook_id in by_id:
                self.start_runbook(by_id[runbook_id], Mode.EXERCISE)
                return
        self.notify("No exercise runbook is installed.", severity="warning")

    @on(DataTable.RowSelected, "#incident-table")
    def _incident_chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None or not self.incidents:
            return
        self.open_existing(self.incidents[int(event.row_key.value)])

    def open_existing(self, info: Any) -> None:
        if info.state == "open":
            self.notify(f"{info.id} is open in another rescind process.", severity="warning",
                        markup=False)
        elif info.state == "interrupted":
            self.resume(info.dir)
        else:
            from rescind.tui.screens.record import RecordScreen

            self.app.push_screen(RecordScreen(info.dir))

    def resume(self, incident_dir: Path, *, key: Path | None = None,
               settings: dict[str, Any] | None = None) -> None:
        """Resume an interrupted incident, asking again for secret inputs it needs."""
        from rescind.tui.modals.inputs_form import InputsForm
        from rescind.tui.runner import resume_opener
        from rescind.tui.screens.incident import IncidentScreen

        def go(inputs: dict[str, str] | None) -> None:
            opener = resume_opener(incident_dir, key=key, inputs=inputs, settings=settings)
            self.app.push_screen(IncidentScreen(opener, key=key))

        needed = _secret_inputs(incident_dir)
        if needed is None:
            go(None)
            return
        runbook, path, names = needed
        self.app.push_screen(InputsForm(runbook, path, only=names),
                             lambda choice: go(choice.inputs) if choice else None)

    # ----------------------------------------------------------------- keys

    def action_filter(self) -> None:
        self.query_one("#library-filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.query_one("#runbooks").focus()

    def action_switch_pane(self) -> None:
        runbooks = self.query_one("#runbooks")
        table = self.query_one("#incident-table")
        (table if runbooks.has_focus else runbooks).focus()

    def palette_items(self) -> list[PaletteItem]:
        items = [PaletteItem("Start an exercise", "Demo incident on a simulated cloud",
                             self.action_exercise)]
        for info in self.runbooks:
            items.append(PaletteItem(f"Start runbook: {info.title or info.id}",
                                     info.description, partial(self.start_runbook, info)))
        for incident in self.incidents:
            verb = "Resume" if incident.state == "interrupted" else "Open"
            items.append(PaletteItem(f"{verb} incident {incident.id}",
                                     f"{incident.title} · {incident.state}",
                                     partial(self.open_existing, incident)))
        items.append(PaletteItem("Reload runbooks and incidents", "", self.action_reload))
        return items


def _runbook_prompt(info: Any) -> Text:
    text = Text()
    text.append(info.title or info.id, style="bold")
    if info.severity:
        text.append("  ")
        text.append(f" {info.severity.upper()} ", style=SEVERITY_STYLE.get(info.severity, ""))
    if info.clouds:
        text.append(f"  {' '.join(info.clouds)}", style="cyan")
    text.append(f"  {info.id}", style="dim")
    if info.problems:
        text.append(f"\n  ✗ {info.problems[0]}", style="red")
    elif info.description:
        # One line: the list is for choosing; the form shows the rest.
        text.append(f"\n  {' '.join(info.description.split())}", style="dim")
    return text


def _secret_inputs(incident_dir: Path) -> tuple[Any, Path, set[str]] | None:
    """(runbook, path, names) when resuming needs secret inputs again, else None."""
    from rescind.engine.state import recover
    from rescind.errors import RescindError
    from rescind.record.journal import read_entries
    from rescind.runbook.validate import load_and_validate

    try:
        state = recover(read_entries(incident_dir / "journal.jsonl"))
        loaded = load_and_validate(Path(state.runbook_path))
    except (RescindError, OSError):
        return None  # resume itself reports what is wrong, with its fix
    names = {k for k, spec in loaded.runbook.inputs.items() if spec.secret and spec.required}
    return (loaded.runbook, loaded.path, names) if names else None
