"""validate(): every problem, with FILE:LINE:COL, before anything runs."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from rescind.actions import registry
from rescind.runbook.loader import LoadedRunbook, RunbookError, load_runbook, load_runbook_text
from rescind.runbook.validate import load_and_validate, outputs_of, validate
from tests.runbook.conftest import EXAMPLE, Probe

Problems = Callable[[str], list[str]]


def rb(body: str, inputs: str = "") -> str:
    """A runbook with ``body`` as its phases (dedented) and optional inputs."""
    head = "id: r\ntitle: t\n"
    if inputs:
        head += "inputs:\n" + textwrap.indent(textwrap.dedent(inputs), "  ")
    return head + "phases:\n" + textwrap.indent(textwrap.dedent(body), "  ")


def test_example_is_valid() -> None:
    loaded = load_and_validate(EXAMPLE)
    assert isinstance(loaded, LoadedRunbook)
    assert validate(loaded) == []


def test_duplicate_step_ids_across_phases(problems: Problems) -> None:
    assert problems(rb("""\
        contain:
          - id: scope
            manual: a
        document:
          - id: scope
            note: b
        """)) == ["8:11: duplicate step id 'scope' (first used at line 5); step ids are unique "
                  "across all phases"]


def test_unknown_action_with_did_you_mean(problems: Problems, probe_action: type[Probe]) -> None:
    spaces = ", ".join(sorted({n.split(".")[0] + "." for n in registry.names()}))
    assert "test." in spaces
    assert problems(rb("""\
        contain:
          - id: a
            action: test.iam.probe_usr
          - id: b
            action: test.nothing
          - id: c
            action: zzz.nothing
        """)) == [
        "6:15: unknown action 'test.iam.probe_usr'; did you mean 'test.iam.probe_user'?",
        "8:15: unknown action 'test.nothing'; test actions are: test.iam.probe_user, "
        "test.s3.loose",
        f"10:15: unknown action 'zzz.nothing'; action names start with: {spaces}",
    ]


def test_params_are_type_checked(problems: Problems, probe_action: type[Probe]) -> None:
    assert problems(rb("""\
        contain:
          - id: a
            action: test.iam.probe_user
            with:
              usr: alice
              count: many
              tags: solo
              target: {access_key_id: not-a-key, region: [1]}
          - id: b
            action: test.s3.loose
            with: {buckt: x}
        """)) == [
        "8:9: test.iam.probe_user needs parameter 'user'",
        "8:9: unknown parameter 'usr' for test.iam.probe_user; did you mean 'user'?",
        "9:16: expected an integer, found text 'many'",
        "10:15: expected a list, found text 'solo'",
        "11:33: expected text matching ^(AKIA|ASIA)[A-Z0-9]{16}$, found text 'not-a-key'",
        "11:52: expected text, found a list",
        "14:13: test.s3.loose needs parameter 'bucket'",
        "14:14: unknown parameter 'buckt' for test.s3.loose; did you mean 'bucket'?",
    ]


def test_params_holding_references_are_left_to_run_time(problems: Problems,
                                                          probe_action: type[Probe]) -> None:
    assert problems(rb("""\
        contain:
          - id: a
            action: test.iam.probe_user
            with:
              user: alice
              count: "${{ inputs.n }}"
              target: {access_key_id: "${{ inputs.key }}"}
          - id: b
            action: test.iam.probe_user
            with:
              user: "${{ steps.a.outputs.user_arn }}"
              target: "${{ steps.a.outputs.key_count }}"
              tags: ["x", "${{ inputs.key }}", 3]
        """, inputs="n: {type: integer, default: 2}\nkey: {default: AKIAIOSFODNN7EXAMPLE}\n"
    )) == ["19:42: expected text, found number 3"]


def test_references_to_inputs_steps_and_outputs(problems: Problems,
                                                probe_action: type[Probe]) -> None:
    assert problems(rb("""\
        contain:
          - id: first
            manual: "self ${{ steps.first.outputs.note }}"
          - id: probe
            action: test.iam.probe_user
            with: {user: "${{ inputs.usr }}"}
          - id: ask
            prompt: "${{ steps.later.outputs.note }} ${{ steps.nope.outputs.x }}"
          - id: tell
            note: "${{ steps.probe.outputs.user }} ${{ steps.ask.outputs.anser }}"
          - id: done
            note: "${{ steps.tell.outputs.x }} ${{ env.HOME }} ${{ inputs.user"
        remediate:
          - id: later
            manual: x
        """, inputs="user: {default: alice}\n")) == [
        "8:15: ${{ steps.first.outputs.note }}: a step cannot use its own outputs or status",
        "11:20: ${{ inputs.usr }} names no input; did you mean 'user'?",
        "13:15: ${{ steps.later.outputs.note }}: step 'later' runs later (in remediate); a step "
        "can only use steps before it",
        "13:15: ${{ steps.nope.outputs.x }} names no step",
        "15:13: ${{ steps.ask.outputs.anser }}: step 'ask' (a prompt step) has no output "
        "'anser'; it has: answer; did you mean 'answer'?",
        "15:13: ${{ steps.probe.outputs.user }}: step 'probe' (action test.iam.probe_user) has "
        "no output 'user'; it has: user_arn, key_count, token; did you mean 'user_arn'?",
        "17:13: ${{ steps.tell.outputs.x }}: step 'tell' (a note step) has no output 'x'; it "
        "has no outputs",
        "17:13: '${{ env.HOME }}' is not a reference: only inputs and step outputs can be "
        "referenced; write ${{ inputs.NAME }} or ${{ steps.ID.outputs.NAME }}",
        "17:13: '${{' is not closed with '}}'",
    ]


def test_secrets_never_go_into_step_text(problems: Problems, probe_action: type[Probe]) -> None:
    assert problems(rb("""\
        contain:
          - id: probe
            action: test.iam.probe_user
            with: {user: "${{ inputs.password }}"}
          - id: pin
            prompt: PIN?
            secret: true
          - id: tell
            manual: "${{ inputs.password }} ${{ steps.pin.outputs.answer }}"
          - id: log
            note: "token ${{ steps.probe.outputs.token }}"
        """, inputs="password: {secret: true}\n")) == [
        "14:15: ${{ inputs.password }} is secret and manual: text reaches the record; pass it "
        "to an action's with: instead",
        "14:15: ${{ steps.pin.outputs.answer }} is secret and manual: text reaches the record; "
        "pass it to an action's with: instead",
        "16:13: ${{ steps.probe.outputs.token }} is secret and note: text reaches the record; "
        "pass it to an action's with: instead",
    ]


def test_references_outside_expanded_fields(problems: Problems) -> None:
    text = rb("""\
        contain:
          - id: a
            name: "Step ${{ inputs.x }}"
            manual: x
          - id: b
            prompt: q
            default: "${{ inputs.x }}"
        """, inputs="x: {default: a, description: 'the ${{ inputs.x }}'}\n")
    text = text.replace("title: t", "title: T ${{ inputs.x }}")
    assert problems(text) == [
        "2:8: references are not expanded in title:",
        "4:32: references are not expanded in description:",
        "8:13: references are not expanded in name:",
        "12:16: references are not expanded in default:",
    ]


def test_conditions(problems: Problems) -> None:
    assert problems(rb("""\
        contain:
          - id: ask
            prompt: Which?
          - id: tell-security
            manual: x
          - id: a
            manual: x
            when: 'inputs.mode == "x" && steps.ask.outputs.anser == "y"'
          - id: b
            manual: x
            when: 'steps.tell-security.status == "done" || steps.later.status == "x"'
          - id: c
            manual: x
            when: 'steps.ask.state == "done" || envx.a || lowerAscii("A") == "a"'
          - id: d
            manual: x
            when: 'inputs.mode =='
          - id: e
            manual: x
            when: '${{ inputs.mode }} == "a"'
        assess:
          - id: later
            manual: x
        """, inputs="mode: {default: a}\n")) == [
        "13:13: when: steps.ask: step 'ask' (a prompt step) has no output 'anser'; it has: "
        "answer; did you mean 'answer'?",
        "16:13: when: steps.later: step 'later' runs later (in assess); a step can only use "
        "steps before it",
        "16:13: when: write steps[\"tell-security\"]: in CEL, '-' after a dot is a minus sign",
        "19:13: when: steps.ask: a step has only .outputs and .status, not .state",
        "19:13: when: unknown function 'lowerAscii()'",
        "19:13: when: unknown name 'envx'; a condition reads inputs.NAME, steps.ID.outputs.NAME "
        "and steps.ID.status",
        "22:13: when: bad CEL at column 15: the expression ends too early",
        "25:13: when: when: is a CEL expression; write inputs.NAME or steps.ID.outputs.NAME "
        "without ${{ }}",
    ]


def test_condition_on_unknown_input(problems: Problems) -> None:
    assert problems(rb("""\
        contain:
          - id: a
            manual: x
            when: inputs.responder == "me"
        """)) == ["7:13: when: inputs.responder names no input; declare it under inputs:"]


def test_inputs(problems: Problems) -> None:
    assert problems(rb("""\
        contain:
          - id: a
            manual: x
        """, inputs="""\
        ticket: {pattern: "^[A-Z+-[0-9]+($", default: "IR-1"}
        hours: {type: integer, default: "36"}
        region: {default: mars, choices: [us-east-1, eu-west-1]}
        n: {type: integer, default: 5, choices: ["1", "x"]}
        bad-name: {default: "x", pattern: "^y"}
        ok: {type: boolean, default: true, pattern: "^(true|false)$"}
        code: {default: abc, pattern: "^[0-9]+$", secret: true}
        empty: {choices: []}
        pin: {type: integer, default: "s3cret", secret: true}
        """)) == [
        "4:21: pattern is not a valid regular expression: missing ), unterminated subpattern "
        "at position 13",
        "5:35: default '36' is text but the input is integer; write it unquoted",
        "6:21: default 'mars' must be one of: us-east-1, eu-west-1",
        "7:31: default '5' must be one of: 1, x",
        "7:49: choice 'x' is not a valid integer: expected a whole number",
        "8:3: input name 'bad-name' must be letters, digits and '_', starting with a letter (it "
        "is written inputs.NAME in conditions)",
        "8:23: default 'x' does not match the pattern ^y",
        "10:19: the default does not match the pattern ^[0-9]+$",
        "11:20: choices is empty; remove it or list the values",
        "12:33: the default is text but the input is integer; write it unquoted",
    ]


def test_prompt_pattern_and_default(problems: Problems) -> None:
    assert problems(rb("""\
        assess:
          - id: a
            prompt: Ticket?
            pattern: "[unclosed"
          - id: b
            prompt: Ticket?
            pattern: "^[A-Z]+-[0-9]+$"
            default: "ir-1"
          - id: c
            prompt: PIN?
            secret: true
            pattern: "^[0-9]+$"
            default: "abc"
        """)) == [
        "7:16: pattern is not a valid regular expression: unterminated character set at "
        "position 0",
        "11:16: default 'ir-1' does not match the pattern ^[A-Z]+-[0-9]+$",
        "16:16: the default does not match the pattern ^[0-9]+$",
    ]


def test_no_steps_and_missing_scenario(problems: Problems) -> None:
    text = "id: r\ntitle: t\nscenario: nowhere.yaml\nphases: {}\n"
    assert problems(text) == [
        "3:11: scenario file 'nowhere.yaml' not found next to the runbook",
        "4:9: the runbook has no steps; add at least one to a phase",
    ]


def test_all_problems_are_listed_at_once(problems: Problems, probe_action: type[Probe]) -> None:
    """Structural problems do not hide the others: broken parts are left out, the rest
    is still checked, and references to the broken parts are not reported twice."""
    assert problems(rb("""\
        contain:
          - id: probe
            action: test.iam.probe_user
            with: {user: 3}
          - id: broken
            manual: x
            colour: red
          - id: uses-broken
            note: "${{ steps.broken.outputs.note }} ${{ inputs.bad }} ${{ inputs.nope }}"
          - id: probe
            note: again
        notfy: []
        """, inputs="bad: {type: text}\ngood: {default: x}\n").replace("title: t", "titel: t")
    ) == [
        "1:1: missing required key 'title'",
        "2:1: unknown key 'titel' in runbook; did you mean 'title'?",
        "4:15: expected 'string', 'integer', 'number' or 'boolean', found text 'text'",
        "10:20: expected text, found number 3",
        "13:7: unknown key 'colour' in manual step; expected one of: id, name, description, "
        "when, manual",
        # steps.broken and inputs.bad are broken themselves: not reported again
        "15:13: ${{ inputs.nope }} names no input; declared inputs: good",
        "16:11: duplicate step id 'probe' (first used at line 8); step ids are unique across "
        "all phases",
        "18:3: unknown key 'notfy' in phases; did you mean 'notify'?",
    ]


def test_validate_on_a_loaded_runbook_and_load_and_validate_raise(
        write: Callable[..., Path]) -> None:
    text = rb("contain:\n  - {id: a, note: '${{ inputs.x }}'}\n")
    loaded = load_runbook_text(text, "mem.yaml")  # structurally fine
    assert [str(p) for p in validate(loaded)] == [
        "mem.yaml:5:21: ${{ inputs.x }} names no input; declare it under inputs:"]
    path = write(text)
    assert load_runbook(path).runbook.id == "r"
    with pytest.raises(RunbookError) as info:
        load_and_validate(path)
    assert info.value.exit_code == 2
    assert info.value.message.splitlines() == [
        f"invalid runbook {path} (1 problem):",
        f"{path}:5:21: ${{{{ inputs.x }}}} names no input; declare it under inputs:"]


def test_outputs_of(probe_action: type[Probe]) -> None:
    loaded = load_runbook_text(rb("""\
        contain:
          - {id: a, action: test.iam.probe_user, with: {user: x}}
          - {id: b, action: unknown.action}
          - {id: c, manual: x}
          - {id: d, prompt: x}
          - {id: e, note: x}
        """), "x.yaml")
    steps = [s for _, s in loaded.runbook.steps()]
    assert [outputs_of(s) for s in steps] == [
        ("user_arn", "key_count", "token"), None, ("note",), ("answer",), ()]


def test_a_condition_too_costly_to_evaluate_is_refused(problems: Problems) -> None:
    from tests.runbook.test_conditions import HOSTILE

    assert problems(rb(f"""\
        contain:
          - id: a
            manual: x
            when: '{HOSTILE}'
        """)) == ["7:13: when: too costly at column 86: .map() is comprehension 3 levels deep; "
                  "at most 2 may nest"]
