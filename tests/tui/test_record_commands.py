"""The verification commands the record screen copies and saves."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

from rescind.record.keys import ephemeral_signer
from rescind.tui.screens.record import RecordScreen
from tests.record.sample import build_incident, change_line


def test_saved_commands_run_without_rescind_installed(tmp_path: Path) -> None:
    """The last line, `rescind verify`, is commented as optional: on an auditor's
    machine without rescind the script still succeeds (it used to exit 127)."""
    incident = tmp_path / "incident"
    sample = build_incident(incident, ephemeral_signer("Jane Doe", "jane@example.com"),
                            ephemeral_signer("Omar", "omar@example.com"))
    assert sample.sealed is not None
    screen = RecordScreen(incident, close_info=SimpleNamespace(
        report=incident / "report.md", sums=sample.sealed.sums,
        signature=sample.sealed.signature, allowed_signers=sample.sealed.allowed_signers,
        verify_command=sample.sealed.verify_command))
    commands = screen.commands()
    assert commands is not None
    assert commands.splitlines()[-1].startswith("# optional, where rescind is installed: "
                                                "rescind verify ")
    script = tmp_path / "incident.verify.sh"
    script.write_text("#!/bin/sh\nset -e\n" + commands)
    done = subprocess.run(["sh", str(script)], env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _sample(tmp_path: Path) -> Path:
    incident = tmp_path / "incident"
    build_incident(incident, ephemeral_signer("Jane Doe", "jane@example.com"),
                   ephemeral_signer("Omar", "omar@example.com"))
    return incident


async def _verified(incident: Path) -> tuple[RecordScreen, str, int]:
    """The record screen of ``incident`` opened from disk, once it has verified it, with
    its verification panel's text and its journal table's rows as they were shown."""
    from textual.app import App
    from textual.widgets import DataTable

    from tests.tui.conftest import text_of, wait_for

    screen = RecordScreen(incident, verify=True)
    async with App().run_test(size=(140, 50)) as pilot:
        await pilot.app.push_screen(screen)
        await wait_for(pilot, lambda: screen.report is not None, "verification")
        await pilot.pause()
        verdict = " ".join(text_of(screen.query_one("#record-verify")).split())
        rows = screen.query_one(DataTable).row_count
    return screen, verdict, rows


async def test_a_broken_chain_shows_where_it_breaks_and_what_was_not_checked(
        tmp_path: Path) -> None:
    """The panel says what `rescind verify` says: the break, how much is trusted, and the
    notes on what it could not check (not only the problems)."""
    incident = _sample(tmp_path)
    change_line(incident, 3, b"public", b"Public")
    _, verdict, rows = await _verified(incident)
    assert rows == 4  # the lines up to the break (it raised, and the app crashed)
    assert "chain breaks at seq 4, 3 lines checked" in verdict, verdict
    assert "note: plans/: 1 plan file not checked against the journal" in verdict, verdict


async def test_an_anchor_is_offered_only_for_a_record_that_verifies(tmp_path: Path) -> None:
    """The anchor goes into the ticket to vouch for the record: a changed line after a
    checkpoint (seq 17, after 12 and 14) must not get one to paste."""
    incident = _sample(tmp_path)
    intact, _, _ = await _verified(incident)
    assert intact.anchor_line is not None and " seq=29 " in intact.anchor_line
    change_line(incident, 17, b"billing", b"Billing")
    changed, _, _ = await _verified(incident)
    assert changed.report is not None and changed.report.status == "tampered"
    assert changed.anchor_line is None
