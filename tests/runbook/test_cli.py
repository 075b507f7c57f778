"""`rescind validate`: one FILE:LINE:COL line per problem on stderr, exit 2; else ok, exit 0."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rescind.cli import main
from tests.runbook.conftest import EXAMPLE, REPO
from tests.runbook.test_loader import BILLION_LAUGHS

SHIPPED = sorted((REPO / "runbooks").glob("*.y*ml"))


def test_shipped_runbooks_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(REPO / "runbooks")]) == 0
    out = capsys.readouterr()
    assert out.out == f"ok: {len(SHIPPED)} runbook(s) valid\n"
    assert out.err == ""


def test_file_and_id_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE), "example-tabletop"]) == 0
    assert capsys.readouterr().out == "ok: 2 runbook(s) valid\n"


def test_problems_are_printed_one_per_line(tmp_path: Path, write: Callable[..., Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = write("id: r\ntitl: t\nphases:\n  contain:\n    - {id: a, note: '${{ inputs.x }}'}\n",
                "bad.yaml")
    bomb = write(BILLION_LAUGHS, "bomb.yml")
    write(EXAMPLE.read_text(), "good.yaml")
    assert main(["validate", str(tmp_path)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [
        f"{bad}:1:1: missing required key 'title'",
        f"{bad}:2:1: unknown key 'titl' in runbook; did you mean 'title'?",
        f"{bad}:5:21: ${{{{ inputs.x }}}} names no input; declare it under inputs:",
        f"{bomb}:2:8: aliases (*a) are not allowed in runbooks; write the value out",
        "2 of 3 runbook(s) invalid",
    ]


def test_empty_directory_and_missing_file(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"rescind: no *.yaml or *.yml files in {tmp_path}\n"
                                       "  fix: pass runbook files or a folder that holds them\n")
    assert main(["validate", str(tmp_path / "x.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["validate", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "FILE:LINE:COL" in text and "Exit status" in text


def test_hostile_file_never_tracebacks(write: Callable[..., Path]) -> None:
    path = write(b"id: x\n" + b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n\xff", "hostile.yaml")
    done = subprocess.run([sys.executable, "-m", "rescind", "validate", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"{path}:3:1: not UTF-8: byte 0xff at byte offset 10010 cannot be decoded; save "
        "the file as UTF-8",
        "1 of 1 runbook(s) invalid"]


def test_a_condition_too_costly_to_evaluate_fails_validation(
        write: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    from tests.runbook.test_conditions import HOSTILE

    path = write(f"id: r\ntitle: t\nphases:\n  contain:\n    - id: a\n      manual: x\n"
                 f"      when: '{HOSTILE}'\n", "costly.yaml")
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"{path}:7:13: when: too costly at column 86: .map() is comprehension 3 levels deep; "
        "at most 2 may nest")


def test_problems_quoting_the_runbook_are_printed_visibly(
        write: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = write('id: r\ntitle: t\nphases:\n  contain:\n    - id: a\n'
                 '      action: "aws.\\e]0;owned\\a\\e[2J"\n', "escapes.yaml")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "unknown action 'aws.\\x1b]0;owned\\x07\\x1b[2J'" in err
    assert main(["run", str(path), "--no-tui", "--auto-approve"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "unknown action 'aws.\\x1b]0;owned\\x07\\x1b[2J'" in err


SCENARIO_RUNBOOK = """\
id: drill
title: Drill
scenario: drill-scenario.yaml
phases:
  contain:
    - {id: first, note: one}
    - {id: second, note: two}
"""


@pytest.mark.parametrize(("injects", "expected"), [
    # An unknown kind of attacker move, in AWS and in Entra.
    ("injects:\n  - {id: a, summary: s, attacker: [{explode: now, eventName: X, "
     "eventSource: s}]}\n",
     ":3: injects.0.attacker.0.explode: Extra inputs are not permitted"),
    ("entra:\n  injects:\n    - id: a\n      summary: s\n      attacker:\n"
     "        - {reset_everything: x}\n",
     ":7: entra.injects.0.attacker.0.reset_everything: Extra inputs are not permitted"),
    # A time that is not on the exercise clock.
    ("gcp:\n  injects:\n    - id: a\n      summary: s\n      at: 5m\n"
     "      alert: {text: t}\n",
     ":6: gcp.injects.0.at: '5m' is not a time on the exercise clock"),
    # A step the runbook does not have.
    ("injects:\n  - id: late\n    summary: s\n    after_step: third\n    alert: {text: t}\n",
     ":5: injects.0.after_step: 'third' is not a step of runbook drill"),
    # One id in two clouds' sections: the facilitator fires by id.
    ("injects:\n  - {id: a, summary: s, alert: {text: t}}\n"
     "entra:\n  injects:\n    - {id: a, summary: s, alert: {text: t}}\n",
     ":6: entra.injects.0.id: inject id 'a' is used twice"),
])
def test_a_scenarios_injects_are_checked_with_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], injects: str,
        expected: str) -> None:
    runbook = tmp_path / "drill.yaml"
    runbook.write_text(SCENARIO_RUNBOOK)
    scenario = tmp_path / "drill-scenario.yaml"
    scenario.write_text("name: drill\n" + injects)
    # Through the runbook that names it, and on its own with --runbook.
    for args in ([str(runbook)], [str(scenario), "--runbook", str(runbook)]):
        assert main(["validate", *args]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err[0].startswith(f"{scenario}{expected}"), err
        assert err[-1].startswith("1 of 1 ")


def test_shipped_scenarios_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    scenarios = sorted((REPO / "runbooks" / "scenarios").glob("*.yaml"))
    assert main(["validate", *map(str, scenarios)]) == 0
    assert capsys.readouterr().out == f"ok: {len(scenarios)} file(s) valid\n"
