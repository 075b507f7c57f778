"""One live run (or resume) of a runbook against the harness's simulated account.

Usage: python -m tests.reliability.child start RUNBOOK OUT INPUTS_JSON WORK
       python -m tests.reliability.child resume INCIDENT_DIR WORK
The parent (``killrun``) may SIGKILL this process at any moment; AWS endpoints and
credentials come from the environment, as they would for a responder's shell.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from rescind.commands.seal import complete_seal
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.headless import ExerciseResponder
from rescind.modes import Mode
from rescind.record.keys import load_signer

RESPONDER_EMAIL = "responder@example.com"
APPROVER_EMAIL = "approver@example.com"


class LiveAutoResponder(ExerciseResponder):
    """Approves everything; a two-person approval is signed with the trusted approver's key."""

    def __init__(self, work: Path) -> None:
        super().__init__(out=sys.stdout)
        self.work = work

    def _second_approver(self) -> Any:
        return load_signer(self.work / "approver_key", name="Approver", email=APPROVER_EMAIL)


def settings(work: Path) -> dict[str, Any]:
    return {"approvers": str(work / "approvers")}


def die_after(spec: str) -> None:
    """SIGKILL this process right after the journal entry ``kind:step[:stage]`` is on
    disk (the parent cannot poll fast enough to land between two appends)."""
    from rescind.record.journal import Journal

    wanted = spec.split(":")
    append = Journal.append

    def appending(self: Journal, kind: str, data: dict[str, Any]) -> Any:
        entry = append(self, kind, data)
        seen = [kind, str(data.get("step")), str(data.get("stage"))][:len(wanted)]
        if seen == wanted:
            os.kill(os.getpid(), signal.SIGKILL)
        return entry

    Journal.append = appending  # type: ignore[method-assign]


async def main(argv: list[str]) -> None:
    if os.environ.get("RESCIND_KILLRUN_DIE_AFTER"):
        die_after(os.environ["RESCIND_KILLRUN_DIE_AFTER"])
    command = argv[0]
    if command == "start":
        runbook, out, work = Path(argv[1]), Path(argv[2]), Path(argv[4])
        config = SessionConfig(runbook=runbook, mode=Mode.LIVE, inputs=json.loads(argv[3]),
                               out_dir=out,
                               key=work / "responder_key", email=RESPONDER_EMAIL,
                               settings=settings(work))
        session = await IncidentSession.start(config, LiveAutoResponder(work))
    else:
        incident, work = Path(argv[1]), Path(argv[2])
        # As `rescind resume` does: a closed incident whose seal was interrupted is sealed.
        if complete_seal(incident, key=work / "responder_key", email=RESPONDER_EMAIL) is not None:
            return
        session = await IncidentSession.resume(incident, LiveAutoResponder(work),
                                               key=work / "responder_key",
                                               settings=settings(work))
    try:
        outcome = await session.run()
        if outcome == "completed":
            await session.close()
    finally:
        session.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
