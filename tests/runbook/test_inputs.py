"""coerce_inputs: defaults, types, patterns and choices; every problem at once; secrets hidden."""

from __future__ import annotations

import pytest

from rescind.errors import UsageError
from rescind.runbook.model import InputSpec, Phases, Runbook
from rescind.runbook.validate import coerce_inputs


def runbook(**inputs: InputSpec) -> Runbook:
    return Runbook(id="r", title="t", inputs=inputs, phases=Phases())


RB = runbook(
    ticket=InputSpec(pattern=r"^[A-Z]+-[0-9]+$", default="IR-1"),
    region=InputSpec(choices=["us-east-1", "eu-west-1"], default="us-east-1"),
    hours=InputSpec(type="integer", default=36),
    ratio=InputSpec(type="number", default=0.5),
    page=InputSpec(type="boolean", default=False),
    token=InputSpec(secret=True, pattern="^tok_"),
)


def test_defaults_and_conversions() -> None:
    values = coerce_inputs(RB, {"token": "tok_abc"})
    assert values == {"ticket": "IR-1", "region": "us-east-1", "hours": 36, "ratio": 0.5,
                      "page": False, "token": "tok_abc"}
    values = coerce_inputs(RB, {"ticket": "SEC-42", "region": "eu-west-1", "hours": " 12 ",
                                "ratio": "1e-1", "page": "Yes", "token": "tok_x"})
    assert values == {"ticket": "SEC-42", "region": "eu-west-1", "hours": 12, "ratio": 0.1,
                      "page": True, "token": "tok_x"}
    assert isinstance(values["ratio"], float)


def test_values_already_typed_are_accepted() -> None:
    # resume re-coerces inputs read back from the journal
    values = coerce_inputs(RB, {"hours": "7", "page": "True", "ratio": "2", "token": "tok_1"})
    assert (values["hours"], values["page"], values["ratio"]) == (7, True, 2.0)


def test_every_problem_is_listed_and_secrets_are_never_shown() -> None:
    with pytest.raises(UsageError) as info:
        coerce_inputs(RB, {"ticket": "ir 1", "region": "mars", "hours": "1.5",
                           "ratio": "lots", "page": "maybe", "token": "hunter2",
                           "tikcet": "X-1", "colour": "red"})
    message = info.value.message
    assert info.value.exit_code == 2
    assert message.splitlines() == [
        "bad input for runbook 'r':",
        "  - unknown input 'tikcet'; did you mean 'ticket'?",
        "  - unknown input 'colour' (this runbook's inputs: ticket, region, hours, ratio, page, "
        "token)",
        "  - input 'ticket': 'ir 1' does not match the pattern ^[A-Z]+-[0-9]+$",
        "  - input 'region': 'mars' must be one of: us-east-1, eu-west-1",
        "  - input 'hours': '1.5' is wrong: expected a whole number",
        "  - input 'ratio': 'lots' is wrong: expected a number",
        "  - input 'page': 'maybe' is wrong: expected true or false",
        "  - input 'token': the value given does not match the pattern ^tok_",
    ]
    assert "hunter2" not in str(info.value)


def test_missing_required_input() -> None:
    rb = runbook(key=InputSpec(description="the leaked access key id"))
    with pytest.raises(UsageError) as info:
        coerce_inputs(rb, {})
    assert "input 'key' is required (the leaked access key id)" in info.value.message
    assert info.value.fix == "pass each input as --input NAME=VALUE"


def test_integer_choices_compare_as_numbers() -> None:
    rb = runbook(n=InputSpec(type="integer", choices=["1", "2"], default=1))
    assert coerce_inputs(rb, {"n": "02"}) == {"n": 2}
    with pytest.raises(UsageError, match="must be one of: 1, 2"):
        coerce_inputs(rb, {"n": "3"})


def test_a_value_that_does_not_match_says_what_the_input_wants() -> None:
    """The input's description says what to enter, or which runbook fits instead: a
    temporary key given to the long-term key's runbook is sent to the right one."""
    spec = InputSpec(pattern="^AKIA[A-Z0-9]{16}$", description="The leaked access key id "
                     "(a temporary ASIA key needs aws-role-session-compromise)")
    runbook = Runbook.model_validate({"id": "r", "title": "R", "inputs": {"key": spec},
                                      "phases": Phases()})
    with pytest.raises(UsageError) as info:
        coerce_inputs(runbook, {"key": "ASIAIOSFODNN7EXAMPLE"})
    assert "does not match the pattern ^AKIA[A-Z0-9]{16}$: The leaked access key id (a " \
        "temporary ASIA key needs aws-role-session-compromise)" in info.value.message
