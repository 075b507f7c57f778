"""The dry-run overlay on its own: which reads it alters, and what it says about them."""

from __future__ import annotations

from rescind.actions.base import Change
from rescind.actions.overlay import Overlay


def test_a_read_sees_the_latest_blocked_change_and_only_then_a_note() -> None:
    overlay = Overlay()
    overlay.record("deactivate", [Change(target="AKIAIOSFODNN7EXAMPLE", field="status",
                                         before="Active", after="Inactive")])
    step = overlay.view()
    assert step.value("AKIAIOSFODNN7EXAMPLE", "status", "Active") == "Inactive"
    assert step.value("AKIAIOSFODNN7EXAMPLE", "created", "2026-01-01") == "2026-01-01"
    assert step.value("AKIAI44QH8DHBEXAMPLE", "status", "Active") == "Active"
    assert step.notes == ["AKIAIOSFODNN7EXAMPLE: Inactive after step deactivate, not applied "
                          "in this dry-run (its status still reads Active)"]
    # A read that already shows the change needs no note; a later change wins.
    assert overlay.view().value("AKIAIOSFODNN7EXAMPLE", "status", "Inactive") == "Inactive"
    overlay.record("reactivate", [Change(target="AKIAIOSFODNN7EXAMPLE", field="status",
                                         before="Inactive", after="Active")])
    again = overlay.view()
    assert again.over({"AKIAIOSFODNN7EXAMPLE": "Inactive"}, "status") == {
        "AKIAIOSFODNN7EXAMPLE": "Active"}
    assert again.notes == ["AKIAIOSFODNN7EXAMPLE: Active after step reactivate, not applied "
                           "in this dry-run (its status still reads Inactive)"]


def test_an_empty_overlay_changes_no_read() -> None:
    overlay = Overlay()
    assert overlay.over({"alice": True, "bob": False}, "enabled") == {"alice": True,
                                                                      "bob": False}
    assert overlay.value("alice", "enabled", None) is None
    assert overlay.notes == []
