"""when: conditions in CEL: compile errors with columns, boolean results, static uses."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path

import pytest

from rescind.errors import UsageError
from rescind.runbook import conditions
from rescind.runbook.conditions import (
    FUNCTIONS,
    MAX_CONDITION_CHARS,
    ConditionError,
    StepUse,
    compile_condition,
)


class Status(StrEnum):
    DONE = "done"


def test_example_condition() -> None:
    cond = compile_condition('inputs.responder != "security-lead"')
    assert cond.evaluate({"responder": "on-call"}, {}) is True
    assert cond.evaluate({"responder": "security-lead"}, {}) is False
    assert cond.inputs == {"responder"} and cond.steps == frozenset()


def test_steps_expose_outputs_and_status() -> None:
    cond = compile_condition('steps.impact.outputs.answer.contains("prod") && '
                             'steps["tell-security"].status == "done"')
    steps = {"impact": {"outputs": {"answer": "prod db"}, "status": Status.DONE},
             "tell-security": {"outputs": {}, "status": Status.DONE}}
    assert cond.evaluate({}, steps) is True
    assert cond.step_uses == (
        StepUse("impact", "outputs", "answer", 0),
        StepUse("tell-security", "status", None, 48),
    )


def test_names_inside_string_literals_are_not_uses() -> None:
    cond = compile_condition('"steps.x and inputs.y" != inputs["z"] && [1].exists(v, v == 1)')
    assert cond.inputs == {"z"}
    assert cond.steps == frozenset()
    assert cond.unknown_names == ()


def test_hyphenated_step_after_a_dot_is_flagged() -> None:
    cond = compile_condition('steps.tell-security.status == "done"')
    assert cond.step_uses == (StepUse("tell-security", "status", None, 0, hyphenated=True),)
    assert cond.unknown_names == ("security",)


def test_unknown_names_and_functions_are_found_statically() -> None:
    cond = compile_condition("env.HOME == 'x' || lowerAscii(inputs.a) == 'b' || size(inputs) > 0")
    assert cond.unknown_names == ("env",)
    assert cond.unknown_functions == ("lowerAscii",)


@pytest.mark.parametrize(("expr", "message", "line", "column"), [
    ("inputs.x +", "bad CEL at column 11: the expression ends too early", 1, 11),
    ("inputs.a &&& true", "bad CEL at column 12: token recognition error at: '& '", 1, 12),
    ("inputs.a ==\n  (1 +", "bad CEL at line 2, column 7: the expression ends too early", 2, 7),
    ("${{ inputs.x }} == 1", "when: is a CEL expression; write inputs.NAME or "
     "steps.ID.outputs.NAME without ${{ }}", 1, 1),
])
def test_compile_errors_say_where(expr: str, message: str, line: int, column: int) -> None:
    with pytest.raises(ConditionError) as info:
        compile_condition(expr)
    assert info.value.message == message
    assert (info.value.line, info.value.column) == (line, column)
    assert isinstance(info.value, UsageError)


def test_empty_and_oversized_conditions_are_refused_before_the_parser() -> None:
    with pytest.raises(ConditionError, match="empty"):
        compile_condition("  ")
    # Far smaller than what crashes the native parser, far larger than any real condition.
    with pytest.raises(ConditionError, match="longer than"):
        compile_condition(" || ".join(["true"] * MAX_CONDITION_CHARS))


def test_non_boolean_result_is_an_error() -> None:
    with pytest.raises(ConditionError, match="gave 'on-call', not true or false"):
        compile_condition("inputs.responder").evaluate({"responder": "on-call"}, {})


def test_evaluation_failures_are_condition_errors() -> None:
    with pytest.raises(ConditionError, match="reads 'answer', which has no value"):
        compile_condition('steps.a.outputs.answer == "x"').evaluate(
            {}, {"a": {"status": "skipped", "outputs": {}}})
    with pytest.raises(ConditionError, match="failed: division by zero"):
        compile_condition("1 / 0 == 1").evaluate({}, {})
    with pytest.raises(ConditionError, match="failed"):
        compile_condition("inputs.n + 1.5 > 2.0").evaluate({"n": 1}, {})


def test_has_tests_for_a_value() -> None:
    cond = compile_condition("has(steps.a.outputs.answer)")
    assert cond.evaluate({}, {"a": {"status": "skipped", "outputs": {}}}) is False
    assert cond.evaluate({}, {"a": {"status": "done", "outputs": {"answer": "x"}}}) is True


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_allowed_function_exists(name: str) -> None:
    samples = {
        "size": "size([1]) == 1", "contains": '"ab".contains("a")',
        "startsWith": '"ab".startsWith("a")', "endsWith": '"ab".endsWith("b")',
        "matches": '"ab".matches("^a")', "string": 'string(1) == "1"', "int": 'int("2") == 2',
        "uint": "uint(1) == 1u", "double": "double(1) == 1.0", "bytes": 'bytes("a") == b"a"',
        "timestamp": 'timestamp("2024-01-01T00:00:00Z") != timestamp("2024-01-02T00:00:00Z")',
        "duration": 'duration("1s") != duration("2s")', "dyn": "dyn(1) == 1",
        "type": "type(1) == int", "of": "optional.of(1).hasValue()",
        "none": "!optional.none().hasValue()", "hasValue": "optional.of(1).hasValue()",
        "ofNonZeroValue": "!optional.ofNonZeroValue(0).hasValue()",
        "value": "optional.of(1).value() == 1", "orValue": "optional.none().orValue(2) == 2",
        "or": "optional.none().or(optional.of(1)).value() == 1",
    }
    ts = 'timestamp("2024-03-02T01:00:00Z")'
    expr = samples.get(name, f"{ts}.{name}() >= 0")
    cond = compile_condition(expr)
    assert name in cond.program.functions()
    assert cond.unknown_functions == ()
    assert cond.evaluate({}, {}) is True


# Seven nested .map()s over ten values: 10^7 list elements, minutes of CPU, gigabytes.
_TEN = "[0,1,2,3,4,5,6,7,8,9]"
HOSTILE = "size(" + "".join(f"{_TEN}.map(x{i}," for i in range(7)) + "1" + ")" * 7 + ") > 0"


def test_the_hostile_condition_is_refused_where_it_nests_too_deep() -> None:
    assert len(HOSTILE) == 221
    with pytest.raises(ConditionError) as info:
        compile_condition(HOSTILE)
    assert info.value.message == ("too costly at column 86: .map() is comprehension 3 levels "
                                  "deep; at most 2 may nest")
    assert (info.value.line, info.value.column) == (1, 86)


@pytest.mark.parametrize(("expr", "message"), [
    ("[1].all(a,\n [2].exists(b,\n  [3].filter(c, c > a + b).size() > 0))",
     "too costly at line 3, column 7: .filter() is comprehension 3 levels deep"),
    # A comment or a string does not hide a bracket from the count.
    ('[1].all(a, // )\n [2].exists(b, ")" != "" && [3].map(c, c).size() > 0))',
     "too costly at line 2, column 33: .map() is comprehension 3 levels deep"),
    ("[" + ",".join(["0"] * 101) + "].exists(v, v == 1)",
     "too costly at column 205: .exists() ranges over 101 listed values; at most 100"),
])
def test_comprehension_cost_is_bounded_statically(expr: str, message: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(message)):
        compile_condition(expr)


def test_cheap_comprehensions_still_work() -> None:
    cond = compile_condition("inputs.keys.all(k, [1, 2].exists(n, n == k)) && "
                             "[" + ",".join(["0"] * 100) + "].exists(v, v == 0)")
    assert cond.comprehensions == 3
    assert cond.evaluate({"keys": [1, 2]}, {}) is True
    assert cond.evaluate({"keys": [3]}, {}) is False
    with pytest.raises(ConditionError, match="gave \\[1\\], not true or false"):
        compile_condition("inputs.keys.map(k, k)").evaluate({"keys": [1]}, {})
    with pytest.raises(ConditionError, match="reads 'nope', which has no value"):
        compile_condition("inputs.keys.all(k, inputs.nope == k)").evaluate({"keys": [1]}, {})


def test_a_runaway_comprehension_is_stopped_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conditions, "EVAL_SECONDS", 0.5)
    # Within the static bounds, but the data makes it 10^8 pairs.
    cond = compile_condition("inputs.l.map(a, inputs.l.map(b, [a, b])).size() > 0")
    with pytest.raises(ConditionError, match=r"was stopped: it took longer than 0\.5 s"):
        cond.evaluate({"l": list(range(10_000))}, {})


def test_a_runaway_comprehension_is_stopped_at_its_memory_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conditions, "EVAL_SECONDS", 600)
    monkeypatch.setattr(conditions, "EVAL_MEMORY_BYTES", 32 * 2**20)
    cond = compile_condition("inputs.l.map(a, inputs.big + inputs.big).size() > 0")
    with pytest.raises(ConditionError, match="was stopped: it needed more than 32 MB"):
        cond.evaluate({"l": list(range(10_000)), "big": "x" * 2**20}, {})


_INTERRUPTED = """
import sys
from rescind.runbook import conditions
conditions.EVAL_SECONDS = 3600
# Runs for minutes in constant memory, so only the Ctrl-C can end it.
cond = conditions.compile_condition("inputs.l.all(a, inputs.l.all(b, b >= 0))")
try:
    cond.evaluate({"l": list(range(30_000))}, {})
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_stops_a_running_condition_and_its_child() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPTED], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (children := _children(proc.pid)):  # the evaluation has started
            assert proc.poll() is None and time.monotonic() < deadline, "no child started"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out == "interrupted\n"
    for child in children:
        assert not Path(f"/proc/{child}").exists()


def test_a_child_killed_by_ctrl_c_is_an_interrupt_not_a_memory_error() -> None:
    """Ctrl-C reaches the child first (it has the default handler) and this process's own
    KeyboardInterrupt can come late: the child's death by SIGINT must read as Ctrl-C."""
    from rescind.runbook.budget import run_bounded

    def interrupted() -> None:
        os.kill(os.getpid(), signal.SIGINT)  # in the child only: what the terminal sends

    with pytest.raises(KeyboardInterrupt):
        run_bounded(interrupted, seconds=60, memory_bytes=256 * 2**20)
