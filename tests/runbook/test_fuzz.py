"""Random and mutated runbooks: the loader returns a runbook or raises RunbookError,
nothing else, and validation of whatever loads only ever returns problems."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rescind.runbook.loader import LoadedRunbook, RunbookError, analyse, load_runbook_text
from rescind.runbook.problems import Problem
from rescind.runbook.validate import check_analysis
from tests.runbook.conftest import EXAMPLE

SOURCE = EXAMPLE.read_text("utf-8")
DATA = yaml.safe_load(SOURCE)


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def check(text: str | bytes) -> None:
    """The property: a LoadedRunbook or RunbookError; validation never raises."""
    try:
        loaded = load_runbook_text(text, "fuzz.yaml")
    except RunbookError as exc:
        assert exc.problems and all(isinstance(p, Problem) for p in exc.problems)
        assert all(p.line >= 1 and p.col >= 1 for p in exc.problems)
    else:
        assert isinstance(loaded, LoadedRunbook)
    source = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    try:
        analysis = analyse(source, "fuzz.yaml", EXAMPLE.parent / "no-such-file.yaml")
    except RunbookError:
        return
    assert all(isinstance(p, Problem) for p in check_analysis(analysis))


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=20),
                    st.sampled_from(["${{ inputs.ticket }}", "${{ steps.impact.outputs.answer }}",
                                     "${{ env.X }}", "${{", "inputs.x ==", "action", "manual",
                                     "note", "prompt", "with", "when", "[", "}}"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The example with a few keys dropped, duplicated, renamed or values replaced."""
    data = copy.deepcopy(DATA)
    for _ in range(draw(st.integers(1, 4))):
        targets = [p for p in paths(data) if p]
        if not targets:
            break
        path = draw(st.sampled_from(targets))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        op = draw(st.sampled_from(["drop", "dup", "rename", "replace"]))
        if op == "drop":
            del parent[last]
        elif op == "replace":
            parent[last] = draw(values)
        elif op == "dup" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = parent.pop(last)
        elif isinstance(parent, dict):
            parent[f"{last}_"] = copy.deepcopy(parent[last])
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if draw(st.booleans()):  # textual damage too: a line duplicated (duplicate key) or cut
        lines = text.splitlines(keepends=True)
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        cut = draw(st.sampled_from(["dup", "cut", "chop"]))
        if lines and cut == "dup":
            lines.insert(i, lines[i])
        elif lines and cut == "cut":
            del lines[i]
        elif lines:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        text = "".join(lines)
    return text


@st.composite
def damaged_source(draw: st.DrawFn) -> bytes:
    """The example's bytes with a slice replaced by random bytes."""
    source = SOURCE.encode()
    start = draw(st.integers(0, len(source)))
    end = draw(st.integers(start, min(len(source), start + 16)))
    return source[:start] + draw(st.binary(max_size=16)) + source[end:]


@fuzz(100)
@given(mutated())
def test_mutated_example(text: str) -> None:
    check(text)


@fuzz(40)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
       | st.text(alphabet=" :-[]{}\n#&*!|>'\"?,$abc", max_size=200))
def test_random_text(text: str) -> None:
    check(text)


@fuzz(40)
@given(st.binary(max_size=200) | damaged_source())
def test_random_bytes(data: bytes) -> None:
    check(data)


@fuzz(20)
@given(st.text(max_size=50))
def test_text_with_surrogates_and_specials(text: str) -> None:
    check(text)
    check(SOURCE.replace("on-call", text.replace('"', "")))
