"""Run the test incident in a child process and SIGKILL it at a chosen point.

Usage: python -m tests.engine.killer RUNBOOK OUT CLOUD POINT
POINT: ack | apply-after | apply-before | approve-delete | checkpoint-disable | seal-<K>
(seal-<K>: die at the K-th fsync of the close, i.e. between any two writes of sealing)
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from rescind.actions import registry
from rescind.engine.responder import (
    ApprovalRequest,
    ApprovalResponse,
    EngineEvent,
    EventKind,
    StepState,
)
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.modes import Mode
from tests.engine.conftest import ScriptedResponder
from tests.engine.testcloud import ALL_ACTIONS, FakeCloud


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillingCloud(FakeCloud):
    def __init__(self, path: Path, point: str) -> None:
        super().__init__(path)
        self.point = point

    def call(self, op: str, **params: Any) -> dict[str, Any]:
        if op == "DisableUser" and self.point == "apply-before":
            die()
        result = super().call(op, **params)
        if op == "DisableUser" and self.point == "apply-after":
            die()
        return result


class KillingResponder(ScriptedResponder):
    def __init__(self, point: str) -> None:
        super().__init__()
        self.point = point

    def event(self, event: EngineEvent) -> None:
        super().event(event)
        # The checkpoint after disable is signed, its step.done not yet written.
        if (self.point == "checkpoint-disable" and event.kind is EventKind.ANCHOR
                and len(self.of_kind(EventKind.ANCHOR)) == 2):
            die()

    async def acknowledge(self, step: StepState) -> str | None:
        if self.point == "ack":
            die()
        return await super().acknowledge(step)

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        if request.step.id == "delete":
            if self.point == "approve-delete":
                die()
            return ApprovalResponse(approved=True, typed="alice")
        return ApprovalResponse(approved=True)


async def main(runbook: str, out: str, cloud_path: str, point: str) -> None:
    for cls in ALL_ACTIONS:
        registry.register(cls)
    config = SessionConfig(runbook=Path(runbook), mode=Mode.LIVE, out_dir=Path(out),
                           providers={"testcloud": KillingCloud(Path(cloud_path), point)})
    session = await IncidentSession.start(config, KillingResponder(point))
    print(session.incident_dir, flush=True)
    await session.run()
    if point.startswith("seal-"):
        die_at_fsync(int(point.removeprefix("seal-")))
    await session.close()


def die_at_fsync(k: int) -> None:
    """Every write of sealing ends in an fsync (journal lines, each atomic file and its
    folder): dying at the K-th leaves the record exactly as a crash there would."""
    real = os.fsync
    calls = [0]

    def fsync(fd: int) -> None:
        calls[0] += 1
        if calls[0] == k:
            die()
        real(fd)

    os.fsync = fsync  # type: ignore[assignment]


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
