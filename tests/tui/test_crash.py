"""`rescind run` in a real terminal, killed mid-incident; `rescind` again offers to resume."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from textual.widgets import DataTable

from rescind.tui.app import RescindApp
from rescind.tui.modals.approval import ApprovalModal
from tests.tui import drill
from tests.tui.conftest import IDENTITY_KEY, kinds, wait_for

ROOT = Path(__file__).resolve().parents[2]
# The child has no in-memory keyring: it signs with the same key, from a file.
CHILD = """
import os, sys
from pathlib import Path
from rescind.actions import registry
from tests.tui import drill
for cls in drill.ACTIONS:
    registry.register(cls)
drill.STATE["path"] = Path(os.environ["DRILL_STATE"])
from rescind.cli import main
sys.exit(main(["run", str(drill.RUNBOOK), "--input", "ticket=IR-8", "--out", "incidents",
               "--key", os.environ["DRILL_KEY"]]))
"""


def _read(master: int, seconds: float) -> bytes:
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                out += os.read(master, 65536)
            except OSError:
                break
    return out


@pytest.mark.slow
async def test_killed_mid_incident_then_home_resumes(identity: None, workdir: Path,
                                                    drill_cloud: Path) -> None:
    key_file = workdir / "id_ed25519"
    key_file.write_bytes(IDENTITY_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()))
    key_file.chmod(0o600)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", PYTHONPATH=str(ROOT),
               DRILL_STATE=str(drill_cloud), DRILL_KEY=str(key_file))
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=slave, stdout=slave,
                             stderr=slave, env=env, cwd=workdir, start_new_session=True)
    os.close(slave)
    try:
        journal_file = None
        deadline = time.monotonic() + 30
        while journal_file is None or not kinds(journal_file.parent, "action.approval"):
            assert time.monotonic() < deadline, _read(master, 0.1)[-500:]
            _read(master, 0.3)
            found = list((workdir / "incidents").glob("*/journal.jsonl"))
            journal_file = found[0] if found else None
            if journal_file is not None and b"Approve" in _read(master, 0.5):
                os.write(master, b"\r")  # Approve is focused: the key is reversible
        incident_dir = journal_file.parent
        while not kinds(incident_dir, "action.outcome", step="disable-key"):
            assert time.monotonic() < deadline
            _read(master, 0.2)
        os.killpg(child.pid, signal.SIGKILL)  # no shutdown, no lock release by rescind
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        os.close(master)

    app = RescindApp()
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: getattr(home, "incidents", None), "the incident list")
        assert [(i.dir.name, i.state) for i in home.incidents] == [
            (incident_dir.name, "interrupted")]
        # Home puts the interrupted incident in focus: Enter resumes it.
        await wait_for(pilot, lambda: isinstance(app.focused, DataTable), "the incident")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval")
        assert app.screen.request.step.id == "delete-backdoor"
    assert drill.load()["keys"]["AKIAIOSFODNN7EXAMPLE"] == "Inactive"
    # Applied once; an outcome whose line was not yet signed is re-checked on resume,
    # and the confirmation is journaled as its own (recovered) outcome.
    outcomes = kinds(incident_dir, "action.outcome", step="disable-key")
    assert len([o for o in outcomes if not o.get("recovered")]) == 1
    assert kinds(incident_dir, "incident.resume")
