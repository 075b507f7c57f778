"""The AWS leaked-key exercise notifies the security team and the key's owner, captured."""

from __future__ import annotations

from pathlib import Path

from rescind.engine.responder import EventKind
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.modes import Mode
from tests.aws.conftest import LEAKED_KEY, ROOT
from tests.aws.test_runbooks import AutoResponder


async def test_leaked_key_exercise_captures_security_page_and_owner(tmp_path: Path) -> None:
    responder = AutoResponder()
    config = SessionConfig(runbook=ROOT / "runbooks" / "aws-access-key-compromise.yaml",
                           mode=Mode.EXERCISE, inputs={"access_key_id": LEAKED_KEY},
                           out_dir=tmp_path / "incidents")
    session = await IncidentSession.start(config, responder)
    try:
        assert await session.run() == "completed"
        shown = responder.of_kind(EventKind.MESSAGE)
        assert [(m["recipient"], m["status"]) for m in shown] == [
            ("security-slack", "captured"), ("security-email", "captured"),
            ("security-slack", "captured"), ("security-email", "captured"),
            ("security-pager", "captured"),
            ("owner-123456789012", "captured")]
        owner = shown[-1]
        assert owner["target"] == "platform-team@example.com"
        assert "deploy-bot" in owner["text"] and session.incident_id in owner["text"]
        assert "ANCHOR " + session.incident_id in owner["text"]
        assert [m["recipient"] for m in session.messages()] == [m["recipient"] for m in shown]
        states = {s.id: s.status.value for s in session.steps}
        assert states["tell_security_by_hand"] == "skipped"
        assert states["tell_owner_by_hand"] == "skipped"
    finally:
        session.shutdown()
