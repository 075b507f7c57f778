"""Home: the runbook library, the incidents in the incident folder, and "start an exercise".

The lists load in a thread after the first paint, so the screen appears at once
(runbook parsing imports pydantic and YAML; an incident's state is read from its
journal).

One module past ~450 lines on purpose: it is one screen, and what makes it long is
keeping its first frame cheap (the filter hint that becomes the field, the incident
table made once the incidents are read); split, those pieces would be reached across
modules for every keystroke of the one screen they serve.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from rescind.modes import Mode
from rescind.tui.palette import PaletteItem
from rescind.tui.widgets.lists import KeyedOptionList
from rescind.tui.widgets.plain import Plain
from rescind.tui.workers import ReportsFailures

if TYPE_CHECKING:
    from textual.widgets import DataTable

    from rescind.engine.identity import Identity
    from rescind.engine.incidents import IncidentInfo, SealOutcome
    from rescind.engine.session import SessionConfig
    from rescind.runbook.library import RunbookInfo
    from rescind.runbook.model import Runbook
    from rescind.tui.modals.inputs_form import StartChoice

# "Start an exercise" picks the first of these that is installed.
EXERCISE_RUNBOOKS = ("aws-access-key-compromise", "example-tabletop")
# White on red so a NO_COLOR terminal still tells HIGH from LOW at a glance (see ALARM).
SEVERITY_STYLE = {"low": "bold green", "medium": "bold yellow",
                  "high": "bold #ffffff on #c0000c", "critical": "bold #ffffff on #c0000c"}
FILTER_HINT = "/ filter by title, cloud, severity"
STATE_STYLE = {"open": "bold cyan", "interrupted": "bold yellow", "unsealed": "bold yellow",
               "closed": "green",
               "verified": "bold green", "damaged": "bold red"}


class HomeScreen(ReportsFailures, Screen[None]):
    HELP_TITLE = "Home"
    HELP = ("Pick a runbook to start an incident (exercise mode uses a simulated cloud), or "
            "pick an incident: an interrupted one resumes where it stopped (home focuses it "
            "and says where), one whose seal was cut short is sealed, a closed one opens "
            "its record.")
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
    # Focused as the screen mounts: a focus() in on_mount restyled the screen a second
    # time before the first frame (Textual had already focused the filter field).
    AUTO_FOCUS = "#runbooks"

    def __init__(self, incidents_root: Path, *, settings: dict[str, Any] | None = None) -> None:
        """``settings``: what the command line resolved (`rescind run`, `resume`); None
        reads the settings file and environment again at each start, as the CLI does."""
        super().__init__()
        self.incidents_root = incidents_root
        self._given_settings = settings
        self._resolved: dict[str, Any] | None = None
        self.runbooks: list[RunbookInfo] = []
        self.incidents: list[IncidentInfo] = []
        self._pointed_out = False  # an interrupted incident was focused once already

    def compose(self) -> ComposeResult:
        yield Plain(Text.assemble(("rescind", "bold"),
                                   ("  walk a leaked-credential incident from containment to "
                                    "a signed record", "dim")), id="home-title")
        with Vertical(id="library"):
            yield Plain("Runbooks  (Enter starts one · e starts the exercise)",
                         classes="pane-title")
            # The filter field is made when first wanted (/ or a click): an Input cost
            # about a tenth of the first frame, and until then this line looks the same.
            yield Plain(FILTER_HINT, id="library-filter-hint")
            yield KeyedOptionList(id="runbooks")
        with Vertical(id="incidents"):
            yield Plain(f"Incidents in {self.incidents_root}/  (Enter resumes or opens)",
                         classes="pane-title")
            # The table is made when the incidents have been read: an empty one painted
            # nothing here and cost about a tenth of the first frame.
            yield Plain(Text("reading incidents…", style="dim"), id="incidents-reading")
            yield Plain("", id="incident-where")
        yield Footer()

    def on_mount(self) -> None:
        # A placeholder rather than a loading overlay: the list keeps keyboard focus.
        runbooks = self.query_one("#runbooks", OptionList)
        runbooks.add_option(Option(Text("reading runbooks…", style="dim"), disabled=True))
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
        # Through call_later: showing them awaits the table's mount, the first time.
        self.app.call_from_thread(self.call_later, self._show_incidents, incidents)

    def work_failed(self, group: str, text: str) -> None:
        if group == "home-runbooks":
            self.query_one("#runbooks", OptionList).set_options(
                [Option(Text(f"✗ could not read the runbooks: {text}\nF5 tries again",
                             style="red"), disabled=True)])
        elif group == "home-incidents":
            self.call_later(self._show_failed_incidents, text)

    async def _show_failed_incidents(self, text: str) -> None:
        table = await self._incident_table()
        table.clear(columns=True)
        table.add_columns("incidents")
        table.add_row(Text(f"✗ could not read {self.incidents_root}/: {text}", style="red"))

    async def _incident_table(self) -> DataTable[Any]:
        """The incident table, in place of its "reading" line the first time."""
        from rescind.tui.widgets.tables import KeyedDataTable

        for table in self.query("#incident-table").results(KeyedDataTable):
            return table
        table = KeyedDataTable(id="incident-table", cursor_type="row")
        await self.query_one("#incidents").mount(table, after="#incidents-reading")
        await self.query_one("#incidents-reading").remove()
        return table

    def _show_runbooks(self, runbooks: list[RunbookInfo]) -> None:
        self.runbooks = runbooks
        typed = (field.value for field in self.query("#library-filter").results(Input))
        self._filter_runbooks(next(typed, ""))

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

    async def _show_incidents(self, incidents: list[IncidentInfo]) -> None:
        table = await self._incident_table()  # first: who waits for the list finds it
        self.incidents = incidents
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
        stopped = next((n for n, i in enumerate(incidents) if i.where), None)
        if stopped is not None and not self._pointed_out:
            # What a responder back after a crash wants first: where they left off.
            self._pointed_out = True
            table.focus()
            table.move_cursor(row=stopped)
        self._show_where(table.cursor_row)

    # Handlers by name, not @on(DataTable...): home's first frame does not import DataTable.
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_where(event.cursor_row)

    def _show_where(self, row: int) -> None:
        where = self.query_one("#incident-where", Static)
        info = self.incidents[row] if 0 <= row < len(self.incidents) else None
        where.display = bool(info and info.where)
        if info and info.where:
            verb = "Enter seals it" if info.state == "unsealed" else "Enter resumes"
            where.update(Text.assemble((f"{info.state}: ", STATE_STYLE[info.state]),
                                       info.where, (f"  · {verb}", "dim")))

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

    def start_runbook(self, info: RunbookInfo, mode: Mode = Mode.EXERCISE) -> None:
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
        self.app.push_screen(InputsForm(loaded.runbook, info.path, mode=mode,
                                        check=partial(self.check_credentials, loaded.runbook)),
                             self._start_chosen)

    def session_settings(self) -> dict[str, Any]:
        """The settings an incident started here runs with: the command line's, else
        the settings file and environment read now (blocking: call from a thread)."""
        if self._given_settings is not None:
            return self._given_settings
        from rescind.settings.config import resolve, session_settings

        self._resolved = session_settings(resolve())
        return self._resolved

    def check_credentials(self, runbook: Runbook, mode: Mode) -> list[Identity]:
        """Who rescind would act as, per provider the runbook uses (blocking, read-only)."""
        from rescind.engine.identity import check_credentials

        return check_credentials(runbook, mode, self.session_settings())

    def _start_chosen(self, choice: StartChoice | None) -> None:
        if choice is None:
            return
        from rescind.engine.session import SessionConfig
        from rescind.tui.runner import start_opener
        from rescind.tui.screens.incident import IncidentScreen

        # The form's check has just read them; reading again could differ.
        settings = self._given_settings if self._given_settings is not None else \
            self._resolved or {}
        config = SessionConfig(runbook=choice.runbook, mode=choice.mode, inputs=choice.inputs,
                               out_dir=self.incidents_root, settings=settings)
        self.app.push_screen(IncidentScreen(start_opener(config)))

    def open_incident(self, config: SessionConfig) -> None:
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
            def chosen(choice: StartChoice | None) -> None:
                if choice is not None:
                    config.inputs = choice.inputs
                    self.open_incident(config)

            self.app.push_screen(InputsForm(loaded.runbook, config.runbook, mode=config.mode,
                                            values=config.inputs, fixed_mode=True), chosen)
            return
        if config.mode is Mode.EXERCISE:
            self.app.push_screen(IncidentScreen(start_opener(config), key=config.key))
        else:
            self._check_then_open(config, loaded.runbook)

    @work(thread=True, exclusive=True, group="home-credentials", exit_on_error=False)
    def _check_then_open(self, config: SessionConfig, runbook: Runbook) -> None:
        """`rescind run --mode live|dry-run` with every input given: no form, same check."""
        from rescind.engine.identity import check_credentials

        found = check_credentials(runbook, config.mode, config.settings)
        self.app.call_from_thread(self._checked_open, config, found)

    def _checked_open(self, config: SessionConfig, found: list[Identity]) -> None:
        from rescind.tui.modals.confirm import NoticeModal
        from rescind.tui.runner import start_opener
        from rescind.tui.screens.incident import IncidentScreen

        bad = [f"{who.provider}: {who.problem}" for who in found if not who.ok]
        if bad:
            self.app.push_screen(NoticeModal(
                "Cannot start: no usable credentials",
                "\n".join(bad) + "\n\nFix them, then run the command again.", error=True))
            return
        self.app.push_screen(IncidentScreen(start_opener(config), key=config.key))

    def action_exercise(self) -> None:
        by_id = {info.id: info for info in self.runbooks if info.ok}
        for runbook_id in EXERCISE_RUNBOOKS:
            if runbook_id in by_id:
                self.start_runbook(by_id[runbook_id], Mode.EXERCISE)
                return
        self.notify("No exercise runbook is installed.", severity="warning")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None or not self.incidents:
            return
        self.open_existing(self.incidents[int(event.row_key.value)])

    def open_existing(self, info: IncidentInfo) -> None:
        if info.state == "open":
            self.notify(f"{info.id} is open in another rescind process.", severity="warning",
                        markup=False)
        elif info.state == "interrupted":
            self.resume(info.dir)
        elif info.state == "unsealed":
            self.notify(f"Finishing the seal of {info.id}…", markup=False)
            self._complete_seal(info.dir)
        else:
            from rescind.tui.screens.record import RecordScreen

            self.app.push_screen(RecordScreen(info.dir))

    @work(thread=True, exclusive=True, group="home-seal", exit_on_error=False)
    def _complete_seal(self, incident_dir: Path) -> None:
        """A close a crash cut short: finish sealing it (as `rescind seal` does)."""
        from rescind.engine.incidents import complete_seal

        outcome = complete_seal(incident_dir)
        self.app.call_from_thread(self._sealed, incident_dir, outcome)

    def _sealed(self, incident_dir: Path, outcome: SealOutcome | None) -> None:
        from rescind.tui.screens.record import RecordScreen

        if outcome is None:  # its close is not trusted: resume re-checks it
            self.resume(incident_dir)
            return
        if outcome.status == "tampered":
            self.notify("Not sealed: the record does not verify; the record screen shows "
                        "why.", severity="error", timeout=10)
        elif outcome.status == "sealed":
            self.notify(f"Sealed {incident_dir.name}.", title="Seal completed", markup=False)
        self._load_incidents()
        self.app.push_screen(RecordScreen(incident_dir))

    def resume(self, incident_dir: Path, *, key: Path | None = None,
               settings: dict[str, Any] | None = None) -> None:
        """Resume an interrupted incident, asking again for secret inputs it needs."""
        from rescind.tui.modals.inputs_form import InputsForm
        from rescind.tui.runner import resume_opener
        from rescind.tui.screens.incident import IncidentScreen

        def go(inputs: dict[str, str] | None) -> None:
            opener = resume_opener(incident_dir, key=key, inputs=inputs,
                                   settings=settings if settings is not None
                                   else self.session_settings)
            self.app.push_screen(IncidentScreen(opener, key=key))

        needed = _secret_inputs(incident_dir)
        if needed is None:
            go(None)
            return
        runbook, path, names = needed
        self.app.push_screen(InputsForm(runbook, path, only=names),
                             lambda choice: go(choice.inputs) if choice else None)

    # ----------------------------------------------------------------- keys

    @on(events.Click, "#library-filter-hint")
    def action_filter(self) -> None:
        self._filter_field().focus()

    def _filter_field(self) -> Input:
        """The filter field, in place of its hint the first time it is wanted."""
        for field in self.query("#library-filter").results(Input):
            return field
        hint = self.query_one("#library-filter-hint")
        field = Input(placeholder=FILTER_HINT, id="library-filter", compact=True)
        self.query_one("#library").mount(field, after=hint)
        hint.remove()
        return field

    def action_leave_filter(self) -> None:
        self.query_one("#runbooks").focus()

    def action_switch_pane(self) -> None:
        runbooks = self.query_one("#runbooks")
        for table in self.query("#incident-table"):  # none until the incidents are read
            (table if runbooks.has_focus else runbooks).focus()

    def palette_items(self) -> list[PaletteItem]:
        items = [PaletteItem("Start an exercise", "Demo incident on a simulated cloud",
                             self.action_exercise)]
        for info in self.runbooks:
            items.append(PaletteItem(f"Start runbook: {info.title or info.id}",
                                     info.description, partial(self.start_runbook, info)))
        for incident in self.incidents:
            verb = {"interrupted": "Resume", "unsealed": "Finish sealing"}.get(incident.state,
                                                                              "Open")
            items.append(PaletteItem(f"{verb} incident {incident.id}",
                                     f"{incident.title} · {incident.state}",
                                     partial(self.open_existing, incident)))
        items.append(PaletteItem("Reload runbooks and incidents", "", self.action_reload))
        return items


def _runbook_prompt(info: RunbookInfo) -> Text:
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


def _secret_inputs(incident_dir: Path) -> tuple[Runbook, Path, set[str]] | None:
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
