"""How the engine talks to whoever drives it: the headless CLI, the TUI, or a test.

The engine calls these methods and never knows which front end answers. Each
method may raise ``Aborted`` to stop the incident (the record keeps what happened).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

from rescind.actions.base import Plan
from rescind.errors import ActionError


class Aborted(Exception):
    """The responder chose to stop the incident."""


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # for the responder: approval, acknowledgement, answer
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    DECLINED = "declined"  # the responder declined the plan: a choice, not a failure


@dataclass
class StepState:
    """A step as the front end sees it."""

    id: str
    phase: str
    kind: str  # action | manual | prompt | note
    title: str
    text: str = ""  # the manual text, prompt question or note, references resolved
    action: str | None = None
    status: StepStatus = StepStatus.PENDING
    outputs: dict[str, Any] = field(default_factory=dict)
    plan: Plan | None = None
    error: str | None = None
    note: str | None = None


class Approval(StrEnum):
    NONE = "none"
    CONFIRM = "confirm"
    TYPE_NAME = "type-name"
    TWO_PERSON = "two-person"


@dataclass
class ApprovalRequest:
    step: StepState
    plan: Plan
    policy: Approval
    plan_file: Path  # the exact bytes a second responder signs with `rescind approve`
    expected_names: list[str]  # for TYPE_NAME: what must be typed (any one target)


@dataclass
class ApprovalResponse:
    approved: bool
    typed: str | None = None  # TYPE_NAME: what the responder typed
    token: str | None = None  # TWO_PERSON: the armored SSHSIG from `rescind approve`
    reason: str | None = None  # why it was rejected, journaled


@dataclass
class FailureChoice:
    choice: Literal["retry", "skip", "abort"]
    reason: str = ""


class EventKind(StrEnum):
    """What an ``EngineEvent`` reports; its ``data`` keys are listed per kind."""

    JOURNAL = "journal"  # seq, kind, time, sha256: a line was appended (or a checkpoint)
    PHASE = "phase"  # phase, status (start | end)
    STEP = "step"  # step, status (a StepStatus value)
    PROGRESS = "progress"  # step, done, total, message
    ANCHOR = "anchor"  # line: the ANCHOR line of the newest checkpoint
    BLOCKED = "blocked"  # step, operation, params: dry-run refused a mutating call
    WARNING = "warning"  # message
    SECRET = "secret"  # step, name, value: shown once, never journaled
    CLOSED = "closed"  # report, verify_command
    MESSAGE = "message"  # step, and a notification's channel, recipient, text (notify.send)
    RESUMED = "resumed"  # summary: where a resumed incident goes on, what re-checking found


@dataclass
class EngineEvent:
    """Something the front end may show."""

    kind: EventKind
    data: dict[str, Any] = field(default_factory=dict)


def is_nested(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple)


def secret_lines(value: Any) -> list[str]:
    """A SECRET event's value as the lines a front end shows, each value copyable alone.

    A plain value is one line, as it is. A mapping or list (``vault.kv.rotate``'s new
    values by path and field) is one ``path field: value`` line per value, never a
    Python repr, whose quoting would alter a value holding a quote."""
    if not is_nested(value):
        return [str(value)]
    return [f"{' '.join(path)}: {leaf}" for path, leaf in leaves(value)]


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path, text) of every plain value inside ``value``, mappings and lists opened."""
    if isinstance(value, Mapping):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = [(str(i), v) for i, v in enumerate(value, start=1)]  # as a person counts
    else:
        yield path, str(value)
        return
    for key, item in items:
        yield from leaves(item, (*path, key))


class Responder(Protocol):
    async def acknowledge(self, step: StepState) -> str | None:
        """A manual step: return an optional note once the responder has done it."""

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        """A prompt step: return the answer."""

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        """An action's plan needs the confirmation its policy demands."""

    async def on_failure(self, step: StepState, error: ActionError) -> FailureChoice:
        """A step failed: retry, skip (with a reason) or abort."""

    def event(self, event: EngineEvent) -> None:
        """Progress, journal entries, anchors: show them; must not block."""
