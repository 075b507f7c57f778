"""The `rescind` command as a user meets it: help, clean errors, a whole run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rescind.commands import COMMAND_MODULES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "runbooks" / "example-tabletop.yaml"


def rescind(*args: str, cwd: Path | None = None,
            stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rescind", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, input=stdin, env=os.environ.copy(),
                          timeout=120)


def assert_clean_failure(done: subprocess.CompletedProcess[str], code: int) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("rescind: ") or done.stderr.startswith("usage:")


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    top = rescind("--help")  # one real process: the entry point itself works
    assert top.returncode == 0
    from rescind.cli import main

    names = [m.rsplit(".", 1)[1] for m in COMMAND_MODULES]
    for name in names:
        assert name in top.stdout
        # In-process for each command: the same parser, without a process start each.
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        out = capsys.readouterr()
        assert done.value.code == 0 and "usage: rescind " + name in out.out, out.err


@pytest.fixture
def keyed(tmp_path: Path) -> Path:
    done = rescind("keys", "init", "--name", "Jane Responder", "--email", "jane@example.com")
    assert done.returncode == 0, done.stderr
    return tmp_path


def test_auto_approve_refused_outside_exercise(keyed: Path) -> None:
    for mode in ("live", "dry-run"):
        done = rescind("run", str(EXAMPLE), "--mode", mode, "--auto-approve", "--no-tui",
                       "--out", str(keyed / "inc"))
        assert_clean_failure(done, 2)
        assert "--auto-approve is refused" in done.stderr
    assert not (keyed / "inc").exists()


def test_bad_runbook_lists_every_problem_with_its_position(keyed: Path) -> None:
    bad = keyed / "bad.yaml"
    bad.write_text("id: bad\ntitle: Bad\nphases:\n  contain:\n    - id: a\n      manul: x\n"
                   "  asess: []\n")
    done = rescind("run", str(bad), "--no-tui", "--auto-approve", "--out", str(keyed / "inc"))
    assert_clean_failure(done, 2)
    assert f"{bad}:7:3:" in done.stderr and f"{bad}:6:" in done.stderr


def test_bad_input_names_the_input(keyed: Path) -> None:
    done = rescind("run", str(EXAMPLE), "--no-tui", "--auto-approve", "--input", "ticket=nope",
                   "--out", str(keyed / "inc"))
    assert_clean_failure(done, 2)
    assert "ticket" in done.stderr


def test_no_signing_key_is_one_clear_message(tmp_path: Path) -> None:
    done = rescind("run", str(EXAMPLE), "--no-tui", "--auto-approve", "--out", str(tmp_path))
    assert_clean_failure(done, 1)
    assert "rescind keys init" in done.stderr


def test_headless_exercise_run_produces_a_verified_record(keyed: Path) -> None:
    done = rescind("run", "example-tabletop", "--no-tui", "--auto-approve",
                   "--out", str(keyed / "inc"))
    assert done.returncode == 0, done.stderr
    (incident,) = (keyed / "inc").iterdir()
    assert f"rescind verify {incident}" in done.stdout
    assert "ssh-keygen -Y verify -f allowed_signers -I jane@example.com" in done.stdout
    verified = rescind("verify", str(incident))
    assert verified.returncode == 0 and "INTACT" in verified.stdout


def test_headless_terminal_answers_from_stdin(keyed: Path) -> None:
    answers = "\n".join(["", "the prod account", "told them", "rotated", ""]) + "\n"
    done = rescind("run", str(EXAMPLE), "--no-tui", "--out", str(keyed / "inc"), stdin=answers)
    assert done.returncode == 0, done.stderr
    (incident,) = (keyed / "inc").iterdir()
    journal = (incident / "journal.jsonl").read_text()
    assert '"answer":"the prod account"' in journal
    report = (incident / "report.md").read_text()
    assert "Lessons learned from the prod account" in report


def test_closed_stdin_aborts_and_keeps_the_record(keyed: Path) -> None:
    done = rescind("run", str(EXAMPLE), "--no-tui", "--out", str(keyed / "inc"), stdin="")
    assert done.returncode == 1
    (incident,) = (keyed / "inc").iterdir()
    assert "rescind resume" in done.stdout
    assert rescind("verify", str(incident)).returncode == 0


def test_aws_exercise_plays_the_scenarios_inputs(keyed: Path) -> None:
    """`make demo` headless: the scenario says which key leaked; no --input needed."""
    done = rescind("run", "aws-access-key-compromise", "--no-tui", "--auto-approve",
                   "--out", str(keyed / "inc"))
    assert done.returncode == 0, done.stderr
    (incident,) = (keyed / "inc").iterdir()
    journal = (incident / "journal.jsonl").read_text()
    assert '"access_key_id":"AKIAIOSFODNN7EXAMPLE"' in journal
    assert rescind("verify", str(incident)).returncode == 0


def test_resume_repairs_a_torn_journal_from_the_command_line(keyed: Path) -> None:
    """A crash mid-write leaves a torn last line; `rescind resume` is what repairs it."""
    done = rescind("run", str(EXAMPLE), "--no-tui", "--out", str(keyed / "inc"), stdin="")
    assert done.returncode == 1
    (incident,) = (keyed / "inc").iterdir()
    with (incident / "journal.jsonl").open("ab") as fh:
        fh.write(b'{"prev":"00')
    resumed = rescind("resume", str(incident), "--no-tui", "--auto-approve")
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    assert re.search(r"resumed at step \S+ of phase \S+; \d+ of \d+ steps done",
                     resumed.stdout), resumed.stdout
    assert '"kind":"journal.torn"' in (incident / "journal.jsonl").read_text()
    assert rescind("verify", str(incident)).returncode == 0


def test_out_that_is_not_a_folder_is_one_clear_message(keyed: Path) -> None:
    taken = keyed / "taken"
    taken.write_text("not a folder")
    done = rescind("run", str(EXAMPLE), "--no-tui", "--auto-approve", "--out", str(taken))
    assert_clean_failure(done, 2)
    assert str(taken) in done.stderr and "--out" in done.stderr


def test_started_with_stdin_closed_aborts_cleanly(keyed: Path) -> None:
    """`<&-` leaves sys.stdin None: no terminal to ask on, and no traceback."""
    for extra in ([], ["--no-tui"]):
        done = subprocess.run(
            ["sh", "-c", 'exec "$0" -m rescind "$@" <&-', sys.executable, "run", str(EXAMPLE),
             "--out", str(keyed / "inc"), *extra],
            cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), timeout=120)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert "rescind resume" in done.stdout


def test_run_refuses_to_start_without_credentials_for_the_runbooks_provider(
        keyed: Path, tmp_path: Path) -> None:
    """Checked before the incident opens (issue 16), not at the first cloud step after
    the manual ones: one message naming the provider and the fix, no incident folder."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    done = subprocess.run(
        [sys.executable, "-m", "rescind", "run", "aws-access-key-compromise", "--no-tui",
         "--mode", "dry-run", "--input", "access_key_id=AKIAIOSFODNN7EXAMPLE",
         "--out", str(keyed / "inc")],
        cwd=ROOT, capture_output=True, text=True, input="", env=env, timeout=120)
    assert_clean_failure(done, 2)
    assert "cannot start without usable credentials: aws: " in done.stderr, done.stderr
    assert "AWS_ACCESS_KEY_ID" in done.stderr and "rescind config check" in done.stderr
    assert done.stderr.count("rescind: ") == 1
    assert not (keyed / "inc").exists()


def test_the_app_without_a_terminal_is_one_clear_message() -> None:
    """`rescind | cat`, cron, CI: the app would write screen codes into the pipe and wait
    for keys for ever; it says what to do instead."""
    done = rescind()  # stdin and stdout are pipes here
    assert_clean_failure(done, 2)
    assert "needs a terminal" in done.stderr and "--no-tui" in done.stderr
    assert "\x1b" not in done.stdout
