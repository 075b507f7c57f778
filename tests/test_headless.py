"""The headless front end's words for what happened to a step."""

from __future__ import annotations

import io

import pytest

from rescind.engine.responder import EngineEvent, EventKind, StepState, secret_lines
from rescind.errors import ActionError
from rescind.headless import TerminalResponder


@pytest.mark.parametrize(("kind", "verdict", "not_said"),
                         [("declined", "DECLINED revoke", "FAILED"),
                          ("permission", "FAILED revoke", "DECLINED")])
async def test_a_declined_plan_reads_declined_not_failed(
        monkeypatch: pytest.MonkeyPatch, kind: str, verdict: str, not_said: str) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO("s\nnot today\n"))
    step = StepState(id="revoke", phase="contain", kind="action", title="Revoke")
    choice = await TerminalResponder(out).on_failure(
        step, ActionError("the responder declined the plan", kind=kind))
    assert choice.choice == "skip" and choice.reason == "not today"
    assert verdict in out.getvalue() and not_said not in out.getvalue()


def test_a_secret_mapping_prints_one_line_per_value() -> None:
    """New KV values by path and field, as `vault.kv.rotate` hands them over: each on a
    line of its own, as it is (a Python repr would escape the quote)."""
    out = io.StringIO()
    responder = TerminalResponder(out)
    kv = {"secret/payments/config": {"stripe_key": "sk_'one\"", "webhook_secret": "whsec_two"}}
    role_id = "f0000000-0000-4000-8000-0000000000aa"
    responder.event(EngineEvent(EventKind.SECRET,
                                {"step": "rotate-kv", "name": "new_values", "value": kv}))
    responder.event(EngineEvent(EventKind.SECRET,
                                {"step": "rotate-role-id", "name": "role_id", "value": role_id}))
    assert out.getvalue().splitlines() == [
        "   SECRET new_values (shown once, store it now):",
        "     secret/payments/config stripe_key: sk_'one\"",
        "     secret/payments/config webhook_secret: whsec_two",
        f"   SECRET role_id (shown once, store it now): {role_id}"]


def test_secret_lines_number_list_items_as_a_person_counts() -> None:
    assert secret_lines({"keys": ["a", {"id": "b"}]}) == ["keys 1: a", "keys 2 id: b"]
    assert secret_lines(42) == ["42"]
