"""Home at 3 a.m. (issue 16): starts that check credentials first, the settings the CLI
reads, an interrupted incident in focus, a cut-short seal finished, failed reads said."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, OptionList, Static

from rescind.engine.session import IncidentSession, SessionConfig
from rescind.modes import Mode
from rescind.record.verify import verify_incident
from rescind.tui.app import RescindApp
from rescind.tui.modals.inputs_form import InputsForm
from tests.tui import drill
from tests.tui.conftest import screen_named, text_of, wait_for
from tests.tui.test_snapshots import Scripted

REPO_RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / \
    "aws-access-key-compromise.yaml"


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


async def test_start_form_refuses_without_credentials_naming_the_settings_file_fix(
        identity: None, workdir: Path, no_aws_credentials: None,
        _isolated_config: Path) -> None:
    """DRY-RUN from home reads rescind.toml (as `rescind run` does): its profile does not
    exist, so the form says so with the fix, and no incident folder is created."""
    (_isolated_config / "rescind.toml").write_text('[aws]\nprofile = "nope-profile"\n')
    app = RescindApp()
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: getattr(home, "runbooks", None), "runbooks")
        info = next(i for i in home.runbooks if i.path.resolve() == REPO_RUNBOOK)
        home.start_runbook(info, Mode.DRY_RUN)
        await wait_for(pilot, lambda: isinstance(app.screen, InputsForm)
                       and app.screen.query("#start"), "the start form")
        form = app.screen
        assert form.chosen_mode is Mode.DRY_RUN
        for name, value in (("in-access_key_id", "AKIAIOSFODNN7EXAMPLE"),
                            ("in-ticket", "IR-1")):
            form.query_one(f"#{name}", Input).value = value
        await pilot.pause()
        await pilot.click("#start")
        status = form.query_one("#form-check", Static)
        await wait_for(pilot, lambda: "Cannot start" in text_of(status), "the refusal")
        shown = text_of(status)
        assert "nope-profile" in shown and "configure list-profiles" in shown, shown
        assert app.screen is form and not form.checking
        assert not (workdir / "incidents").exists()


async def test_rescind_run_refuses_without_credentials_before_the_incident_opens(
        identity: None, workdir: Path, no_aws_credentials: None) -> None:
    """`rescind run --mode dry-run` with every input given skips the form, not the check:
    one notice naming the provider and the fix, no incident, the app still up."""
    from rescind.tui.modals.confirm import NoticeModal

    config = SessionConfig(runbook=REPO_RUNBOOK, mode=Mode.DRY_RUN,
                           inputs={"access_key_id": "AKIAIOSFODNN7EXAMPLE", "ticket": "IR-1"},
                           out_dir=Path("incidents"))
    app = RescindApp(start=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, NoticeModal)
                       and app.screen.query("#ok"), "the refusal", timeout=30)
        notice = app.screen
        shown = " ".join(text_of(p) for p in notice.query(Static))
        assert "Cannot start: no usable credentials" in shown, shown
        assert "aws: " in shown and "AWS_ACCESS_KEY_ID" in shown, shown
        assert "Traceback" not in shown
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HomeScreen", "home")
        assert not any(type(s).__name__ == "IncidentScreen" for s in app.screen_stack)
    assert not (workdir / "incidents").exists()


async def _closed_but_unsealed(config: SessionConfig, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The drill run to the end, then a crash inside close, before the seal."""
    session = await IncidentSession.start(config, Scripted())
    try:
        assert await session.run() == "completed"
        with monkeypatch.context() as patch:
            def crash(*args: Any, **kwargs: Any) -> None:
                raise RuntimeError("power cut")

            patch.setattr("rescind.record.sealing.finish_seal", crash)
            with pytest.raises(RuntimeError):
                await session.close()
    finally:
        session.shutdown()
    return session.incident_dir


async def test_home_focuses_the_interrupted_incident_and_finishes_a_cut_short_seal(
        identity: None, workdir: Path, drill_cloud: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    unsealed = await _closed_but_unsealed(
        SessionConfig(runbook=drill.RUNBOOK, mode=Mode.EXERCISE, inputs={"ticket": "IR-3"},
                      out_dir=Path("incidents")), monkeypatch)
    assert not (unsealed / "SHA256SUMS").exists()
    app = RescindApp()
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        # The table is made once the incidents are read, so it is waited for too.
        await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "incident-table",
                       "the incident list in focus")
        where = text_of(home.query_one("#incident-where", Static))
        assert "unsealed: closed after" in where and "Enter seals it" in where, where
        await pilot.press("enter")
        await wait_for(pilot, screen_named(pilot, "RecordScreen"), "the record")
        await wait_for(pilot, lambda: app.screen.report is not None, "verification")
    # Read back from the folder: sealed and intact, by the verifier itself.
    assert (unsealed / "SHA256SUMS").is_file()
    assert verify_incident(unsealed).exit_code == 0


async def test_home_says_where_an_interrupted_incident_stopped(
        identity: None, workdir: Path, drill_cloud: Path) -> None:
    config = SessionConfig(runbook=drill.RUNBOOK, mode=Mode.EXERCISE, inputs={"ticket": "IR-4"},
                           out_dir=Path("incidents"))

    class StopAtTheFirstApproval(Scripted):
        async def approve(self, request: Any) -> Any:
            raise asyncio.CancelledError  # the process dies while the approval waits

    session = await IncidentSession.start(config, StopAtTheFirstApproval())
    with pytest.raises(asyncio.CancelledError):
        await session.run()
    session.shutdown()
    app = RescindApp()
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        # The table is made once the incidents are read, so it is waited for too.
        await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "incident-table",
                       "the incident list in focus")
        where = text_of(home.query_one("#incident-where", Static))
        assert "interrupted: stopped in disable-key (contain); 0 steps done" in where, where
        assert "Enter resumes" in where


async def test_a_failed_read_replaces_its_placeholder(
        identity: None, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise PermissionError("runbooks/: Permission denied")

    monkeypatch.setattr("rescind.runbook.library.list_runbooks", broken)
    app = RescindApp()
    async with app.run_test(size=(120, 40)) as pilot:
        options = app.screen.query_one("#runbooks", OptionList)

        def shown() -> str:
            return str(options.get_option_at_index(0).prompt) if options.option_count else ""

        await wait_for(pilot, lambda: "could not read" in shown(), "the failure in the list")
        assert "reading runbooks" not in shown() and "Permission denied" in shown()


async def test_first_frame_leaves_out_only_what_it_does_not_show(
        identity: None, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16's first paint: until the incidents are read home shows "reading
    incidents…" (no table yet), the filter line is a hint until / makes the field, and
    no other screen's or dialog's CSS has been parsed."""
    import threading

    from rescind.engine import incidents as incidents_module
    from rescind.tui.modals.confirm import ConfirmModal

    read = threading.Event()
    real = incidents_module.list_incidents

    def held(root: Path) -> Any:
        read.wait(30)
        return real(root)

    monkeypatch.setattr(incidents_module, "list_incidents", held)
    from rescind.runbook.library import RunbookInfo

    library = [RunbookInfo(id=f"leak-{n}", title=title, severity="high", clouds=["aws"],
                           description="", path=Path(f"leak-{n}.yaml"))
               for n, title in enumerate(("Leaked AWS access key", "AWS root user used"))]
    monkeypatch.setattr("rescind.runbook.library.list_runbooks", lambda: library)
    app = RescindApp()
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            home = app.screen
            await wait_for(pilot, lambda: getattr(home, "runbooks", None), "runbooks")

            def sheets() -> str:
                return " ".join(str(where) for where in app.stylesheet.source)

            assert "rescind.tcss" in sheets()
            assert not any(name in sheets() for name in ("incident.tcss", "timeline.tcss",
                                                         "record.tcss", "dialogs.tcss"))
            assert "reading incidents" in text_of(home.query_one("#incidents-reading",
                                                                 Static))
            assert not home.query("#incident-table") and not home.query("#library-filter")
            await pilot.press("tab")  # no table yet: the runbooks keep the focus
            assert getattr(app.focused, "id", None) == "runbooks"
            read.set()
            await wait_for(pilot, lambda: home.query("#incident-table"), "the table")
            await wait_for(pilot, lambda: not home.query("#incidents-reading"),
                           "the reading line gone")
            await pilot.click("#library-filter-hint")
            await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "library-filter",
                           "the filter field in focus")
            await pilot.press(*"root")  # the field filters as the one it replaced did
            options = home.query_one("#runbooks", OptionList)
            await wait_for(pilot, lambda: options.option_count == 1, "the library filtered")
            app.push_screen(ConfirmModal("Quit rescind?", "sure?"))
            await wait_for(pilot, lambda: getattr(app.focused, "id", None) == "no", "the dialog")
            assert "dialogs.tcss" in sheets()
    finally:
        read.set()


def test_every_dialog_reads_the_dialogs_stylesheet() -> None:
    """A modal without it would be unstyled whenever it is the first dialog opened."""
    import importlib
    import pkgutil

    from textual.screen import ModalScreen

    import rescind.tui.modals as modals

    found = []
    for module_info in pkgutil.iter_modules(modals.__path__):
        module = importlib.import_module(f"{modals.__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, ModalScreen) \
                    and value.__module__ == module.__name__:
                found.append(value)
                assert value.CSS_PATH == modals.DIALOGS_CSS, value
    assert len(found) >= 8, found


def test_home_imports_no_data_table_before_its_first_frame() -> None:
    import subprocess
    import sys

    probe = ("import sys, rescind.cli; from rescind.tui.app import RescindApp; "
             "print(sorted(m for m in ('textual.widgets._data_table', 'pydantic', 'yaml') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]", out
