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
