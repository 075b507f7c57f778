"""References: only ${{ inputs.x }} and ${{ steps.id.outputs.y }}; typed when whole."""

from __future__ import annotations

import pytest

from rescind.errors import RescindError
from rescind.runbook.refs import (
    BadRef,
    Ref,
    ReferenceSyntaxError,
    ReferenceUnresolved,
    as_text,
    find_refs,
    resolve,
    scan_refs,
    whole_ref,
)

INPUTS = {"ticket": "IR-7", "count": 3, "flag": True}
OUTPUTS = {"deactivate": {"user": "alice", "keys": ["AKIAIOSFODNN7EXAMPLE"]}}


def test_find_refs_walks_nested_values() -> None:
    value = {"aws": {"access_key_id": "${{inputs.ticket}}"},
             "users": ["x", "${{   steps.deactivate.outputs.user  }} and ${{ inputs.count }}"]}
    refs = find_refs(value)
    assert [(r.kind, r.name, r.output, r.path) for r in refs] == [
        ("inputs", "ticket", None, ("aws", "access_key_id")),
        ("steps", "deactivate", "user", ("users", 1)),
        ("inputs", "count", None, ("users", 1)),
    ]
    assert [str(r) for r in refs] == ["inputs.ticket", "steps.deactivate.outputs.user",
                                      "inputs.count"]
    assert refs[2].offset == value["users"][1].index("${{ inputs.count")  # type: ignore[index]


@pytest.mark.parametrize(("text", "why"), [
    ("${{ env.HOME }}", "only inputs and step outputs can be referenced"),
    ("${{ inputs.a == 'b' }}", "expressions are not allowed in references"),
    ("${{ steps.a.status }}", "a step is referenced through its outputs"),
    ("${{ }}", "the reference is empty"),
    ("${{ inputs.a ${{ inputs.b }}", "a reference cannot contain another"),
    ("${{ inputs['a'] }}", "expressions are not allowed"),
    ("${{ secrets.TOKEN }}", "only inputs and step outputs can be referenced"),
])
def test_anything_else_in_braces_is_an_error(text: str, why: str) -> None:
    [bad] = scan_refs({"k": ["x", f"before {text} after"]})
    assert isinstance(bad, BadRef)
    assert bad.path == ("k", 1) and bad.offset == len("before ")
    assert why in bad.message
    with pytest.raises(ReferenceSyntaxError, match="is not a reference"):
        find_refs(text)


def test_unclosed_reference_is_an_error() -> None:
    good, bad = scan_refs("ok ${{ inputs.a }} then ${{ inputs.b")
    assert isinstance(good, Ref) and good.name == "a"
    assert isinstance(bad, BadRef) and "'${{' is not closed" in bad.message
    assert bad.offset == len("ok ${{ inputs.a }} then ")


def test_reference_in_a_key_is_an_error() -> None:
    [bad] = scan_refs({"${{ inputs.a }}": 1})
    assert isinstance(bad, BadRef) and bad.message == "references are not expanded in keys"


def test_whole_reference_keeps_its_type() -> None:
    assert resolve("${{ inputs.count }}", INPUTS, OUTPUTS) == 3
    assert resolve("${{inputs.flag}}", INPUTS, OUTPUTS) is True
    assert resolve("${{ steps.deactivate.outputs.keys }}", INPUTS, OUTPUTS) == [
        "AKIAIOSFODNN7EXAMPLE"]
    assert whole_ref("${{ inputs.count }}") == Ref("inputs", "count", None,
                                                   "${{ inputs.count }}")
    assert whole_ref(" ${{ inputs.count }}") is None


def test_embedded_references_are_interpolated_as_text() -> None:
    value = {"text": "user ${{ steps.deactivate.outputs.user }} x${{ inputs.count }} "
                     "${{ inputs.flag }}", "n": 5, "list": ["${{ inputs.ticket }}", None]}
    assert resolve(value, INPUTS, OUTPUTS) == {
        "text": "user alice x3 yes", "n": 5, "list": ["IR-7", None]}
    assert value["list"] == ["${{ inputs.ticket }}", None]  # the original is not changed


def test_missing_values_raise_reference_unresolved() -> None:
    with pytest.raises(ReferenceUnresolved, match="input 'nope' has no value"):
        resolve("${{ inputs.nope }}", INPUTS, OUTPUTS)
    with pytest.raises(ReferenceUnresolved, match="step 'later' has no outputs"):
        resolve("x ${{ steps.later.outputs.a }}", INPUTS, OUTPUTS)
    with pytest.raises(ReferenceUnresolved) as info:
        resolve({"a": ["${{ steps.deactivate.outputs.arn }}"]}, INPUTS, OUTPUTS)
    assert "has no output 'arn' (it has: keys, user)" in info.value.message
    assert isinstance(info.value, RescindError)


def test_malformed_reference_is_not_resolved() -> None:
    with pytest.raises(ReferenceSyntaxError):
        resolve("${{ env.HOME }}", INPUTS, OUTPUTS)


def test_text_without_references_is_unchanged() -> None:
    text = "100% {{ not jinja }} $HOME ${ x }"
    assert resolve(text, {}, {}) == text


def test_lists_read_as_text_inside_strings() -> None:
    from rescind.runbook.refs import resolve

    outputs = {"p": {"users": ["backup-admin", "eve"], "roles": []}}
    text = "users ${{ steps.p.outputs.users }}, roles ${{ steps.p.outputs.roles }}"
    assert resolve(text, {}, outputs) == "users backup-admin, eve, roles none"
    assert resolve("${{ steps.p.outputs.users }}", {}, outputs) == ["backup-admin", "eve"]


def test_booleans_and_none_read_as_words_inside_strings() -> None:
    """`aws.iam.check_root` outputs booleans; a manual step said "root MFA = False"."""
    outputs = {"root": {"keys": True, "mfa": False, "owner": None}}
    text = ("keys: ${{ steps.root.outputs.keys }}; MFA: ${{ steps.root.outputs.mfa }}; "
            "owner: ${{ steps.root.outputs.owner }}; ${{ steps.root.outputs.keys }} ")
    assert resolve(text, {}, outputs) == "keys: yes; MFA: no; owner: none; yes "
    assert resolve("${{ steps.root.outputs.mfa }}", {}, outputs) is False  # keeps its type
    assert as_text([True, False]) == "yes, no"
