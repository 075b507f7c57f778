"""The verification commands the record screen copies and saves."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

from rescind.record.keys import ephemeral_signer
from rescind.tui.screens.record import RecordScreen
from tests.record.sample import build_incident


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
