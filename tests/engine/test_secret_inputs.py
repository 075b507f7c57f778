"""Secret inputs reach rescind without appearing on its command line: from a file,
standard input, the environment, or a prompt that does not echo."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rescind.cli import main
from rescind.commands.run import complete_inputs, parse_inputs
from rescind.errors import UsageError
from rescind.record.journal import read_entries
from rescind.redaction import REDACTED
from rescind.runbook.validate import load_and_validate
from tests.engine.conftest import write_runbook

SECRET = "s3cr3t-Canary-Value"
RUNBOOK = """\
id: with-secret
title: A runbook with a secret input
inputs:
  token: {secret: true, pattern: "^s3cr3t-", description: "the vault token"}
  ticket: {default: IR-1}
phases:
  contain:
    - id: tick
      note: "ticket ${{ inputs.ticket }}"
"""


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def runbook(tmp_path: Path) -> Path:
    return write_runbook(tmp_path / "rb.yaml", RUNBOOK)


def _run(runbook: Path, tmp_path: Path, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "incidents"
    code = main(["run", str(runbook), "--no-tui", "--auto-approve", "--out", str(out), *extra])
    return code, out


def _recorded_nowhere(out: Path) -> None:
    folders = list(out.iterdir())
    assert len(folders) == 1
    for path in folders[0].rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert any(e.kind == "incident.close"
               for e in read_entries(folders[0] / "journal.jsonl"))


def test_a_secret_from_a_file(runbook: Path, tmp_path: Path, identity: None) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(SECRET + "\n")
    code, out = _run(runbook, tmp_path, "--input", f"token=@{secret_file}")
    assert code == 0
    _recorded_nowhere(out)


def test_a_secret_from_standard_input(runbook: Path, tmp_path: Path, identity: None,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    code, out = _run(runbook, tmp_path, "--input", "token=@-")
    assert code == 0
    _recorded_nowhere(out)


def test_a_secret_from_the_environment(runbook: Path, tmp_path: Path, identity: None,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESCIND_INPUT_token", SECRET)
    code, out = _run(runbook, tmp_path)
    assert code == 0
    _recorded_nowhere(out)


def test_a_missing_secret_is_asked_for_without_echo(runbook: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def getpass(prompt: str) -> str:
        asked.append(prompt)
        return SECRET

    monkeypatch.setattr("getpass.getpass", getpass)
    monkeypatch.setattr("sys.stdin", Tty(""))
    spec = load_and_validate(runbook).runbook
    assert complete_inputs(spec, {}, prompt=True) == {"token": SECRET}
    assert asked == ["token (the vault token), secret, not echoed: "]
    # Given, recorded (resume), or not on a terminal: not asked.
    assert complete_inputs(spec, {"token": "x"}, prompt=True) == {"token": "x"}
    assert complete_inputs(spec, {}, recorded={"token": "x"}, prompt=True) == {}
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert complete_inputs(spec, {}, prompt=True) == {}
    assert len(asked) == 1


def test_input_value_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_inputs(["who=@@alice", "plain=v=w"]) == {"who": "@alice", "plain": "v=w"}
    with pytest.raises(UsageError) as info:
        parse_inputs([f"token=@{tmp_path / 'missing'}"])
    assert "cannot read the file" in info.value.message and "@@" in str(info.value.fix)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(UsageError, match="standard input is empty"):
        parse_inputs(["token=@-"])


def test_each_value_inside_a_secret_output_is_known_by_value() -> None:
    """A rotation returns its new values by path and field: one of them alone, quoted in
    a later error or note, is hidden too (not only the whole mapping's text)."""
    from rescind.engine.secrecy import KnownSecrets

    known = KnownSecrets({}, set())
    known.add({"secret/payments/config": {"stripe_key": "sk_example_1",
                                          "tokens": ["tok_example_22"], "version": 1}})
    assert known.scrub("the webhook refused sk_example_1 and tok_example_22") == \
        f"the webhook refused {REDACTED} and {REDACTED}"
    # A short leaf (a version, a flag) is not a secret to find everywhere: step 1 stays.
    assert known.scrub("step 1 of 3") == "step 1 of 3"
