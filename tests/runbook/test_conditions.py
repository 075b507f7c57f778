"""when: conditions in CEL: compile errors with columns, boolean results, static uses."""

from __future__ import annotations

from enum import StrEnum

import pytest

from rescind.errors import UsageError
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
