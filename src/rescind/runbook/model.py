"""The runbook model (design.md, "Runbook language").

Every model forbids unknown keys so a typo is an error, not a silent no-op.
Positions of nodes live beside the model (loader.LoadedRunbook), not in it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

PHASES: tuple[str, ...] = ("contain", "assess", "notify", "remediate", "document")
STEP_ID = r"^[a-z][a-z0-9_-]{0,62}$"
Severity = Literal["low", "medium", "high", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InputSpec(_Strict):
    type: Literal["string", "integer", "number", "boolean"] = "string"
    description: str = ""
    pattern: str | None = None
    default: str | int | float | bool | None = None
    choices: list[str] | None = None
    secret: bool = False

    @property
    def required(self) -> bool:
        return self.default is None


class _StepBase(_Strict):
    id: Annotated[str, Field(pattern=STEP_ID)]
    name: str | None = None
    description: str = ""
    when: str | None = None

    @property
    def kind(self) -> str:
        raise NotImplementedError

    @property
    def title(self) -> str:
        return self.name or self.id


class ActionStep(_StepBase):
    action: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    max_targets: int | None = Field(default=None, ge=1)

    @property
    def kind(self) -> str:
        return "action"


class ManualStep(_StepBase):
    manual: str

    @property
    def kind(self) -> str:
        return "manual"


class PromptStep(_StepBase):
    prompt: str
    default: str | None = None
    pattern: str | None = None
    secret: bool = False

    @property
    def kind(self) -> str:
        return "prompt"


class NoteStep(_StepBase):
    note: str

    @property
    def kind(self) -> str:
        return "note"


STEP_KINDS: tuple[str, ...] = ("action", "manual", "prompt", "note")


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        present = [k for k in STEP_KINDS if k in value]
        return present[0] if len(present) == 1 else None
    return getattr(value, "kind", None)


Step = Annotated[
    Annotated[ActionStep, Tag("action")]
    | Annotated[ManualStep, Tag("manual")]
    | Annotated[PromptStep, Tag("prompt")]
    | Annotated[NoteStep, Tag("note")],
    Discriminator(_step_kind),
]


class Phases(_Strict):
    contain: list[Step] = Field(default_factory=list)
    assess: list[Step] = Field(default_factory=list)
    notify: list[Step] = Field(default_factory=list)
    remediate: list[Step] = Field(default_factory=list)
    document: list[Step] = Field(default_factory=list)

    def items(self) -> list[tuple[str, list[ManualStep | ActionStep | PromptStep | NoteStep]]]:
        return [(p, list(getattr(self, p))) for p in PHASES]


class Runbook(_Strict):
    id: Annotated[str, Field(pattern=STEP_ID)]
    title: str
    description: str = ""
    severity: Severity = "medium"
    clouds: list[Literal["aws", "azure", "gcp"]] = Field(default_factory=list)
    scenario: str | None = Field(
        default=None, description="Exercise scenario file, relative to the runbook")
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    phases: Phases

    def steps(self) -> list[tuple[str, ManualStep | ActionStep | PromptStep | NoteStep]]:
        """Every step with its phase, in execution order."""
        return [(phase, s) for phase, steps in self.phases.items() for s in steps]
