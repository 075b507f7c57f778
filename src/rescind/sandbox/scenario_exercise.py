"""What a scenario says about the exercise itself, for scoring and the debrief, and what
every cloud's injects share (InjectBase: id, when it fires, an alert, an unreachable
approver; Fired: what it made, journaled).

Every cloud's scenario model accepts these fields (``ExerciseFields`` is mixed into
the strict ones), and ``load_brief`` reads just them from any scenario file, so the
engine can journal them at open (``exercise.scenario``) and the after-action report
is rendered from the journal alone:

- ``compromised``: the credentials and principals the attacker holds (ids as the
  runbook's actions name their targets: an access key id, a user or role name, a
  service account email). Scoring times how long each took to contain.
- ``debrief``: the questions the facilitator asks after the exercise.
- ``responder_permissions``: what the responder's live identity may do, as the
  cloud's policies name it (``iam:UpdateAccessKey``, ``iam.serviceAccounts.disable``;
  ``*`` wildcards as in IAM). Scoring lists the actions that would have failed in
  live. Absent: the live identity is not known and nothing is compared. (The
  simulated Google Cloud project also enforces it.)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rescind.errors import UsageError
from rescind.timeline.window import parse_when

MAX_QUESTION = 500
_INJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def offset_seconds(text: str) -> int:
    """``+5m`` → 300: a point on the exercise clock, counted from its start."""
    origin = datetime(2000, 1, 1, tzinfo=UTC)
    if not text.strip().startswith("+"):
        raise ValueError(f"{text!r} is not a time on the exercise clock: write +5m, +90s, +1h")
    try:
        return int((parse_when(text, origin) - origin).total_seconds())
    except UsageError:
        raise ValueError(f"{text!r} is not a time on the exercise clock: "
                         "write +5m, +90s, +1h") from None


class AlertSpec(BaseModel):
    """A second alert: a message to the responder from someone watching."""

    model_config = ConfigDict(extra="forbid")
    source: str = "SOC"
    text: str


class InjectBase(BaseModel):
    """What every cloud's inject has (docs/exercises.md, Injects).

    ``at`` (``+5m`` on the exercise clock) or ``after_step`` (a step id) fires it;
    with neither, only the facilitator does. Every cloud's inject may send an
    ``alert`` to the responder or make the next two-person approval time out
    (``approver_unreachable``); what the attacker does in the cloud is each cloud's
    own (``attacker``: CloudTrail events, Cloud Logging calls, Graph changes...).
    """

    model_config = ConfigDict(extra="forbid")
    ACTS: ClassVar[str] = "attacker:"  # what else makes this cloud's inject do something

    id: str
    summary: str
    at: str | None = None
    after_step: str | None = None
    alert: AlertSpec | None = None
    approver_unreachable: bool = False

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _INJECT_ID.match(value):
            raise ValueError("an inject id is lower-case letters, digits and dashes")
        return value

    @field_validator("at")
    @classmethod
    def _offset(cls, value: str | None) -> str | None:
        if value is not None:
            offset_seconds(value)
        return value

    def acts(self) -> bool:
        """Whether it does something in its cloud (each cloud's inject says)."""
        return False

    @model_validator(mode="after")
    def _does_something(self) -> InjectBase:
        if self.at is not None and self.after_step is not None:
            raise ValueError("give at: or after_step:, not both")
        if not (self.acts() or self.alert or self.approver_unreachable):
            raise ValueError(f"an inject does something: give {self.ACTS} alert: or "
                             "approver_unreachable: true")
        return self

    @property
    def at_seconds(self) -> int | None:
        return None if self.at is None else offset_seconds(self.at)


Move = TypeVar("Move", bound=BaseModel)


class AttackerInject(InjectBase, Generic[Move]):
    """An inject whose ``attacker:`` is a list of the cloud's own moves (``Move``: a
    CloudTrail event, a Cloud Logging call, a Graph, ARM or Vault change)."""

    attacker: list[Move] = Field(default_factory=list)

    def acts(self) -> bool:
        return bool(self.attacker)


def unique_injects(value: list[Any]) -> list[Any]:
    """Each cloud's ``injects`` validator: an id names one inject."""
    seen: set[str] = set()
    for inject in value:
        if inject.id in seen:
            raise ValueError(f"inject id {inject.id!r} is used twice")
        seen.add(inject.id)
    return value


class Fired(list[str]):
    """What an inject created or touched, by id (journaled as its ``targets``), and which
    of them are credentials minted for a principal (``holders``: credential → principal):
    cutting the principal off ends them, as revoking a role's sessions ends a session key."""

    def __init__(self, targets: list[str], holders: dict[str, str] | None = None) -> None:
        super().__init__(dict.fromkeys(targets))
        self.holders = {k: v for k, v in (holders or {}).items() if k in self}


class ExerciseFields(BaseModel):
    compromised: list[str] = Field(default_factory=list)
    debrief: list[str] = Field(default_factory=list)
    responder_permissions: list[str] | None = None

    @field_validator("compromised")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        if any(not v for v in cleaned):
            raise ValueError("a compromised credential is a non-empty id")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("a compromised credential is listed twice")
        return cleaned

    @field_validator("debrief")
    @classmethod
    def _questions(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(v.split()) for v in value]
        if any(not v for v in cleaned):
            raise ValueError("a debrief question is a non-empty text")
        if any(len(v) > MAX_QUESTION for v in cleaned):
            raise ValueError(f"a debrief question is at most {MAX_QUESTION} characters")
        return cleaned

    @field_validator("responder_permissions")
    @classmethod
    def _permissions(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not v.strip() or " " in v.strip() for v in value):
            raise ValueError("a permission is one word, e.g. iam:UpdateAccessKey")
        return None if value is None else [v.strip() for v in value]


class ScenarioBrief(ExerciseFields):
    """A scenario's name, description and exercise fields; other sections belong
    to each cloud's own model, which checks them when its sandbox starts."""

    model_config = ConfigDict(extra="allow")

    name: str = "scenario"
    description: str = ""

    def journal_data(self, path: Path, sha256: str) -> dict[str, Any]:
        return {"name": self.name, "description": " ".join(self.description.split()),
                "path": str(path), "sha256": sha256, "compromised": self.compromised,
                "debrief": self.debrief, "responder_permissions": self.responder_permissions}


def load_brief(path: Path) -> tuple[ScenarioBrief, bytes]:
    """The scenario's exercise fields and the file's bytes; errors name file and field."""
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw.decode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read scenario {path}: {exc.strerror}",
                         fix="check the path") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}", fix="fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a scenario is a YAML mapping",
                         fix="start the file with keys like name:, description:")
    try:
        return ScenarioBrief.model_validate(data), raw
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{path}: {where}: {first['msg']} ({len(exc.errors())} error(s))",
                         fix="see docs/exercises.md for the scenario's exercise fields") from None
