from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rescind.actions import registry
from rescind.engine.responder import (
    ApprovalRequest,
    ApprovalResponse,
    EngineEvent,
    EventKind,
    FailureChoice,
    StepState,
)
from rescind.errors import ActionError
from tests.engine.testcloud import ALL_ACTIONS, FakeCloud


@pytest.fixture(autouse=True)
def test_actions() -> Iterator[None]:
    for cls in ALL_ACTIONS:
        registry.register(cls)
    yield
    for cls in ALL_ACTIONS:
        registry.unregister(cls.name)


@pytest.fixture
def identity(_isolated_config: Path) -> None:
    from rescind.record.keys import init_key

    init_key("Jane Responder", "jane@example.com")


@pytest.fixture
def cloud(tmp_path: Path) -> FakeCloud:
    return FakeCloud(tmp_path / "cloud.json")


class ScriptedResponder:
    """Answers from scripts and remembers everything it was asked and shown."""

    def __init__(self, *, approvals: list[ApprovalResponse] | None = None,
                 failures: list[FailureChoice] | None = None,
                 answers: list[str] | None = None) -> None:
        self.approvals = list(approvals or [])
        self.failures = list(failures or [])
        self.answers = list(answers or [])
        self.requests: list[ApprovalRequest] = []
        self.errors: list[ActionError] = []
        self.events: list[EngineEvent] = []
        self.acked: list[str] = []

    async def acknowledge(self, step: StepState) -> str | None:
        self.acked.append(step.id)
        return f"done {step.id}"

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        return self.answers.pop(0) if self.answers else (default or "answer")

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        self.requests.append(request)
        return self.approvals.pop(0) if self.approvals else ApprovalResponse(approved=True)

    async def on_failure(self, step: StepState, error: ActionError) -> FailureChoice:
        self.errors.append(error)
        return self.failures.pop(0) if self.failures else FailureChoice("abort")

    def event(self, event: EngineEvent) -> None:
        self.events.append(event)

    def of_kind(self, kind: EventKind) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.kind is kind]


def write_runbook(path: Path, body: str) -> Path:
    path.write_text(body)
    return path
