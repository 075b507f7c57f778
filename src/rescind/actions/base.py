"""The action interface every cloud action implements.

An action is a class registered by name (``aws.iam.deactivate_access_key``) with a
pydantic params model, a risk, and plan / apply / verify (and undo where it is
reversible). ``plan`` makes read-only calls only; ``apply`` performs exactly the
approved plan and refuses (ActionError kind="conflict") if the target changed since.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from rescind.actions.overlay import Overlay
from rescind.modes import Mode


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ["low", "medium", "high", "critical"].index(self.value)


class Change(BaseModel):
    """One before → after difference on one target."""

    model_config = ConfigDict(frozen=True)
    target: str
    field: str
    before: Any = None
    after: Any = None


class Plan(BaseModel):
    """What an action will do, computed with read-only calls.

    ``targets`` are the names a responder types to approve a high-risk plan.
    ``state`` is what plan read (opaque to the engine); apply compares it with a
    fresh read to detect drift.
    """

    model_config = ConfigDict(frozen=True)
    action: str
    step_id: str
    # Set by the engine, so a signed approval names the incident it is for.
    incident: str = ""
    params: dict[str, Any]
    targets: list[str] = Field(default_factory=list)
    changes: list[Change] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    risk: Risk
    reversible: bool
    mutating: bool
    summary: str = ""
    state: dict[str, Any] = Field(default_factory=dict)
    # Outputs already known when planning (e.g. a key's owner). They stand in for
    # apply's result when a crash between intent and outcome hides it.
    outputs: dict[str, Any] = Field(default_factory=dict)

    def canonical_bytes(self) -> bytes:
        """The exact bytes that are hashed, written as the plan file and signed."""
        return (json.dumps(self.model_dump(mode="json"), sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False) + "\n").encode()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.canonical_bytes()).hexdigest()


class Result(BaseModel):
    """What apply did. ``outputs`` become ``${{ steps.<id>.outputs.<name> }}``."""

    outputs: dict[str, Any] = Field(default_factory=dict)
    details: list[str] = Field(default_factory=list)
    undo: dict[str, Any] | None = None


class Verification(BaseModel):
    ok: bool
    detail: str = ""


@dataclass
class ActionContext:
    """What an action may use: its mode, providers, and hooks into the record.

    ``journal`` appends an entry (kind, data) to the incident journal and returns
    its seq; ``progress`` reports (done, total, message) for long work; ``evidence``
    writes raw API responses under ``evidence/`` and returns the path.
    """

    mode: Mode
    incident_dir: Path
    providers: Mapping[str, Any]
    journal: Callable[[str, dict[str, Any]], int]
    progress: Callable[[int, int, str], None] = lambda done, total, msg: None
    evidence: Callable[[str, bytes], Path] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    # Whether text holds a secret value the session knows (a secret input, answer or
    # output): what leaves the record, such as a message, must not.
    holds_secret: Callable[[str], bool] = lambda text: False
    # Shows the front end an event (kind, data) beside the journal, e.g. a message sent.
    notice: Callable[[str, dict[str, Any]], None] = lambda kind, data: None
    # In dry-run, what earlier approved, blocked changes would have made: reads of a
    # field such a change touches pass through it (actions/overlay.py). Empty otherwise.
    overlay: Overlay = field(default_factory=Overlay)

    def provider(self, name: str) -> Any:
        try:
            return self.providers[name]
        except KeyError:
            from rescind.errors import ActionError

            raise ActionError(f"provider {name!r} is not configured for this incident",
                              kind="error", retryable=False) from None


P = TypeVar("P", bound=BaseModel)


class Action(ABC, Generic[P]):
    """Base class of every action. Subclasses set the ClassVars and register."""

    name: ClassVar[str]
    description: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]
    risk: ClassVar[Risk]
    reversible: ClassVar[bool]
    mutating: ClassVar[bool]
    # Providers this action talks to; dry-run refuses to start unless each has a guard.
    providers: ClassVar[tuple[str, ...]] = ()
    # Output names other steps may reference as ${{ steps.<id>.outputs.<name> }}.
    outputs: ClassVar[tuple[str, ...]] = ()
    # Outputs shown to the responder once and never journaled (e.g. a new external id).
    secret_outputs: ClassVar[tuple[str, ...]] = ()
    # Every API operation the action may call, as the cloud's policies name it
    # ("iam:UpdateAccessKey"): the docs list them, the dry-run tests hold actions to them.
    permissions: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def providers_for(cls, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The providers a step with these ``with:`` params talks to (most: ``providers``)."""
        return cls.providers

    @abstractmethod
    async def plan(self, ctx: ActionContext, params: P, step_id: str) -> Plan:
        """Read-only: resolve targets, read current state, list the changes."""

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        """Perform exactly ``plan``. Read-only actions return their outputs here."""
        return Result()

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        """Read the state back to prove the change took effect.

        ``result`` is None when resuming after a crash between intent and outcome.
        """
        return Verification(ok=True, detail="nothing to verify")

    async def undo(self, ctx: ActionContext, plan: Plan, result: Result) -> Result:
        from rescind.errors import ActionError

        raise ActionError(f"{self.name} cannot be undone", retryable=False)

    def parse_params(self, raw: Mapping[str, Any]) -> P:
        return self.params_model.model_validate(dict(raw))  # type: ignore[return-value]
