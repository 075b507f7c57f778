"""The loader: positions for every node, model errors at FILE:LINE:COL, hostile files refused."""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from rescind.errors import UsageError
from rescind.runbook.loader import (
    LoadedRunbook,
    Mark,
    Problem,
    RunbookError,
    load_runbook,
    load_runbook_text,
)
from tests.runbook.conftest import EXAMPLE, deadline


def refused(text: str | bytes, name: str = "bad.yaml", cpu_s: float = 1.0) -> list[str]:
    """Load ``text`` expecting RunbookError within ``cpu_s`` of CPU; its problems as strings."""
    with deadline(cpu_s), pytest.raises(RunbookError) as info:
        load_runbook_text(text, name)
    return [str(p) for p in info.value.problems]


def test_example_loads_with_source_digest_and_positions() -> None:
    loaded = load_runbook(EXAMPLE)
    source = EXAMPLE.read_bytes()
    assert isinstance(loaded, LoadedRunbook)
    assert loaded.runbook.id == "example-tabletop"
    assert loaded.source == source
    assert loaded.sha256 == hashlib.sha256(source).hexdigest()
    assert [s.id for _, s in loaded.runbook.steps()] == [
        "scope", "impact", "tell-security", "rotate", "summary"]
    assert loaded.mark_for(("phases", "contain", 0)) == Mark(10, 7)
    assert loaded.mark_for(("phases", "contain", 0, "manual")) == Mark(11, 15)
    assert loaded.mark_for(("phases", "contain", 0, "manual"), key=True) == Mark(11, 7)
    assert loaded.mark_for(("inputs", "ticket", "pattern")) == Mark(6, 35)
    assert loaded.mark_for(("phases", "notify", 0, "when")) == Mark(18, 13)
    # Paths that are not in the file fall back to the nearest parent.
    assert loaded.mark_for(("phases", "contain", 0, "manual", "x", 3)) == Mark(11, 15)
    assert loaded.mark_for(("nothing", "here")) == Mark(1, 1)


def test_positions_are_the_same_without_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = load_runbook(EXAMPLE)
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    slow = load_runbook(EXAMPLE)
    assert slow.positions == fast.positions
    assert slow.key_positions == fast.key_positions
    assert slow.runbook == fast.runbook


def test_problem_and_error_format() -> None:
    problem = Problem("rb.yaml", 3, 7, "unknown key 'x'")
    assert str(problem) == "rb.yaml:3:7: unknown key 'x'"
    error = RunbookError([Problem("rb.yaml", 9, 1, "b"), problem])
    assert isinstance(error, UsageError) and error.exit_code == 2
    assert error.message.splitlines()[1:] == ["rb.yaml:3:7: unknown key 'x'", "rb.yaml:9:1: b"]


MODEL_ERRORS = textwrap.dedent("""\
    id: Bad Id
    titel: x
    severity: urgent
    inputs:
      t: {type: str, default: [1]}
      u: {tpye: string}
    phases:
      contain:
        - id: scope
          manual: 3
          colour: red
        - id: x
          actoin: foo
        - id: y
          manual: a
          note: b
        - just a string
      asess: []
      notify: 3
    """)


def test_model_errors_are_all_listed_with_positions() -> None:
    assert refused(MODEL_ERRORS, "rb.yaml") == [
        "rb.yaml:1:1: missing required key 'title'",
        "rb.yaml:1:5: an id is lowercase letters, digits, '-' and '_', starting with a letter "
        "(at most 63), found text 'Bad Id'",
        "rb.yaml:2:1: unknown key 'titel' in runbook; did you mean 'title'?",
        "rb.yaml:3:11: expected 'low', 'medium', 'high' or 'critical', found text 'urgent'",
        "rb.yaml:5:13: expected 'string', 'integer', 'number' or 'boolean', found text 'str'",
        "rb.yaml:5:27: expected text, an integer, a number or true/false, found a list",
        "rb.yaml:6:7: unknown key 'tpye' in input 'u'; did you mean 'type'?",
        "rb.yaml:10:15: expected text, found number 3",
        "rb.yaml:11:7: unknown key 'colour' in manual step; expected one of: id, name, "
        "description, when, manual",
        "rb.yaml:12:7: a step needs exactly one of: action, manual, prompt, note",
        "rb.yaml:13:7: unknown key 'actoin' in step; did you mean 'action'?",
        "rb.yaml:14:7: a step has exactly one of action, manual, prompt, note; this one has "
        "manual, note",
        "rb.yaml:17:7: expected a step (a mapping with id: and one of action, manual, prompt, "
        "note), found text 'just a string'",
        "rb.yaml:18:3: unknown key 'asess' in phases; did you mean 'assess'?",
        "rb.yaml:19:11: expected a list, found number 3",
    ]


def test_with_is_read_by_its_yaml_name() -> None:
    text = "id: r\ntitle: t\nphases:\n  contain:\n    - {id: a, action: x.y, with: {k: 1}}\n"
    loaded = load_runbook_text(text, "rb.yaml")
    step = loaded.runbook.phases.contain[0]
    assert step.kind == "action" and step.with_ == {"k": 1}  # type: ignore[union-attr]
    assert loaded.mark_for(("phases", "contain", 0, "with", "k")) == Mark(5, 38)


def test_dates_stay_text() -> None:
    text = ("id: r\ntitle: t\nphases:\n  contain:\n"
            "    - {id: a, action: x, with: {since: 2024-05-01}}\n")
    step = load_runbook_text(text, "rb.yaml").runbook.phases.contain[0]
    assert step.with_ == {"since": "2024-05-01"}  # type: ignore[union-attr]


def test_syntax_error_names_its_position() -> None:
    assert refused("id: r\ntitle: [a, b\nphases: {}\n") == [
        "bad.yaml:3:7: YAML syntax error: while parsing a flow sequence did not find "
        "expected ',' or ']'"]


def test_keys_that_are_not_text() -> None:
    assert refused("id: r\ntitle: t\nphases: {}\n1: a\nyes: b\n? [a]\n: c\n") == [
        "bad.yaml:4:1: key 1 is read as number 1, not text; quote it: '1'",
        "bad.yaml:5:1: key true is read as boolean true, not text; quote it: 'true'",
        "bad.yaml:6:3: mapping keys must be plain text",
    ]


def test_tags_are_refused() -> None:
    assert refused("id: !!binary aGk=\ntitle: !!python/object:os.system x\nphases: !!set {}\n"
                   ) == [
        "bad.yaml:1:5: YAML tag !!binary is not supported in runbooks; write plain values",
        "bad.yaml:2:8: YAML tag !!python/object:os.system is not supported in runbooks; "
        "write plain values",
        "bad.yaml:3:9: YAML tag !!set is not supported in runbooks; write plain values",
    ]


def test_empty_and_multi_document_files() -> None:
    assert refused("") == ["bad.yaml:1:1: the file is empty; expected a mapping with id, "
                           "title and phases"]
    assert refused("# only a comment\n") == refused("")
    assert refused("id: a\n---\nid: b\n") == [
        "bad.yaml:2:1: a runbook file holds one YAML document; remove the second '---'"]


# --- hostile files ------------------------------------------------------------------------

BILLION_LAUGHS = textwrap.dedent("""\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    """)


def test_billion_laughs_is_refused() -> None:
    assert refused(BILLION_LAUGHS) == [
        "bad.yaml:2:8: aliases (*a) are not allowed in runbooks; write the value out"]


def test_recursive_alias_is_refused() -> None:
    assert refused("a: &x [1, *x]\n") == [
        "bad.yaml:1:11: aliases (*x) are not allowed in runbooks; write the value out"]


def test_file_over_one_mebibyte_is_refused(write: Callable[..., Path]) -> None:
    path = write(b"id: x\ntitle: " + b"x" * (2 << 20) + b"\n")
    with deadline(1.0), pytest.raises(RunbookError) as info:
        load_runbook(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:1:1: file is larger than 1024 KiB; a runbook is a small YAML file"]


def test_endless_device_is_refused_without_reading_it_all() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with deadline(1.0), pytest.raises(RunbookError, match="larger than 1024 KiB"):
        load_runbook("/dev/zero")


def test_non_utf8_names_the_byte_offset() -> None:
    assert refused(b"id: x\ntitle: caf\xe9\nphases: {}\n") == [
        "bad.yaml:2:11: not UTF-8: byte 0xe9 at byte offset 16 cannot be decoded; save the "
        "file as UTF-8"]


def test_utf16_file_is_not_utf8() -> None:
    problems = refused("id: x\n".encode("utf-16"))
    assert problems == ["bad.yaml:1:1: not UTF-8: byte 0xff at byte offset 0 cannot be "
                        "decoded; save the file as UTF-8"]


def test_control_character_is_refused() -> None:
    assert refused("id: x\ntitle: a\x01b\n") == [
        "bad.yaml:2:9: character U+0001 is not allowed in YAML (control characters are "
        "refused)"]


def test_list_root_is_refused() -> None:
    assert refused("- id: x\n- id: y\n") == [
        "bad.yaml:1:1: the top level must be a mapping (id:, title:, phases:), found a list"]


def test_scalar_root_is_refused() -> None:
    assert refused("just text\n") == [
        "bad.yaml:1:1: the top level must be a mapping (id:, title:, phases:), found text "
        "'just text'"]
    assert refused("42\n") == [
        "bad.yaml:1:1: the top level must be a mapping (id:, title:, phases:), found number 42"]


@pytest.mark.parametrize("text", [
    "a: " + "[" * 1000 + "]" * 1000 + "\n",
    "a: " + "{b: " * 1000 + "c" + "}" * 1000 + "\n",
    "".join("  " * i + f"k{i}:\n" for i in range(1000)),
], ids=["flow-lists", "flow-maps", "block-maps"])
def test_deep_nesting_is_refused(text: str) -> None:
    [problem] = refused(text)
    assert problem.endswith("nesting deeper than 64 levels; a runbook is not that deep")


def test_too_many_nodes_is_refused() -> None:
    # Scanning 20,000 nodes linearly costs 0.5-1.2 s of CPU on a busy 2-core runner; a
    # quadratic blow-up at that size would cost minutes, so 4 s still catches it.
    assert refused("a: [" + "1," * 30_000 + "]\n", cpu_s=4.0) == [
        "bad.yaml:1:39999: more than 20000 YAML nodes; a runbook is much smaller"]


def test_duplicate_keys_are_all_listed() -> None:
    text = textwrap.dedent("""\
        id: r
        title: t
        id: again
        phases:
          contain:
            - id: a
              manual: x
              manual: y
        """)
    assert refused(text) == [
        "bad.yaml:3:1: duplicate key 'id' (first at line 1); keep one",
        "bad.yaml:8:7: duplicate key 'manual' (first at line 7); keep one",
    ]


def test_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(RunbookError) as info:
        load_runbook(tmp_path / "missing.yaml")
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'missing.yaml'}:1:1: cannot read the file: No such file or directory"]
    with pytest.raises(RunbookError, match="is a directory"):
        load_runbook(tmp_path)
