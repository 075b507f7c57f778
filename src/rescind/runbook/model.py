"""The runbook model (docs/architecture.md, "Runbook language"; docs/runbooks.md).

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
    """A value the responder gives when the incident starts (--input NAME=VALUE)."""

    type: Literal["string", "integer", "number", "boolean"] = Field(
        "string", description="How the value given on the command line is read")
    description: str = Field("", description="What to enter; shown when the input is asked for")
    pattern: str | None = Field(
        default=None, description="Regular expression the value as typed must match (search)")
    default: str | int | float | bool | None = Field(
        default=None, description="Used when the input is not given; without one it is required")
    choices: list[str] | None = Field(default=None, description="The only values allowed")
    secret: bool = Field(
        default=False, description="Never echoed, journaled or written into the record")

    @property
    def required(self) -> bool:
        return self.default is None


class _StepBase(_Strict):
    id: Annotated[str, Field(
        pattern=STEP_ID, description="Unique across all phases; other steps use it in "
        "${{ steps.ID.outputs.NAME }}")]
    name: str | None = Field(default=None, description="Title shown instead of the id")
    description: str = Field("", description="Longer explanation shown with the step")
    when: str | None = Field(
        default=None, description="CEL condition over inputs and steps; the step is skipped "
        "when it is false")

    @property
    def kind(self) -> str:
        raise NotImplementedError

    @property
    def title(self) -> str:
        return self.name or self.id


class ActionStep(_StepBase):
    """Runs a registered action: plan, approve, apply, verify."""

    action: str = Field(
        description="Name of a registered action, e.g. aws.iam.deactivate_access_key")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with",
                                  description="The action's parameters; values may be references")
    max_targets: int | None = Field(
        default=None, ge=1, description="Raise the action's cap on the number of targets")

    @property
    def kind(self) -> str:
        return "action"


class ManualStep(_StepBase):
    """A checklist item the responder does and acknowledges, with an optional note."""

    manual: str = Field(description="What to do; references are filled in")

    @property
    def kind(self) -> str:
        return "manual"


class PromptStep(_StepBase):
    """Asks the responder a question; the answer is output `answer`."""

    prompt: str = Field(description="The question; references are filled in")
    default: str | None = Field(default=None, description="Answer offered by default")
    pattern: str | None = Field(
        default=None, description="Regular expression the answer must match (search)")
    secret: bool = Field(
        default=False, description="The answer is never echoed, journaled or written")

    @property
    def kind(self) -> str:
        return "prompt"


class NoteStep(_StepBase):
    """Writes text into the incident record."""

    note: str = Field(description="The text; references are filled in")

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
    """The incident-response phases, run in this order; any may be empty."""

    contain: list[Step] = Field(default_factory=list, description="Stop the credential working")
    assess: list[Step] = Field(default_factory=list, description="Find out what it did")
    notify: list[Step] = Field(default_factory=list, description="Tell who needs to know")
    remediate: list[Step] = Field(default_factory=list, description="Repair and rotate")
    document: list[Step] = Field(default_factory=list, description="Record what happened")

    def items(self) -> list[tuple[str, list[ManualStep | ActionStep | PromptStep | NoteStep]]]:
        return [(p, list(getattr(self, p))) for p in PHASES]


class Runbook(_Strict):
    """A rescind runbook: the steps of one kind of incident, phase by phase."""

    id: Annotated[str, Field(pattern=STEP_ID, description="Runbook id, used by `rescind run ID`")]
    title: str = Field(description="One line shown in lists and the record")
    description: str = Field("", description="When to use this runbook")
    severity: Severity = Field("medium", description="Severity of the incident type")
    clouds: list[str] = Field(
        default_factory=list, description="Clouds (registered providers) the runbook's "
        "actions talk to, e.g. [aws]; `rescind validate` checks they agree with the actions")
    scenario: str | None = Field(
        default=None, description="Exercise scenario file, relative to the runbook")
    inputs: dict[str, InputSpec] = Field(
        default_factory=dict, description="Values given when the incident starts, by name")
    phases: Phases = Field(description="The five phases, run in order")

    def steps(self) -> list[tuple[str, ManualStep | ActionStep | PromptStep | NoteStep]]:
        """Every step with its phase, in execution order."""
        return [(phase, s) for phase, steps in self.phases.items() for s in steps]
