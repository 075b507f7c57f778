"""What the engine hides by value: secret inputs, answers and outputs.

The one redaction (``rescind/redaction.py``) decides by field name and drops
credentials from what is journaled; the engine also knows secrets by value, because
it was handed them or an action returned them. Every journal line and every event
goes through :meth:`KnownSecrets.scrub`, and text shown or journaled reads a
reference to a secret as redacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rescind.engine.responder import is_nested, leaves
from rescind.errors import ActionError, ErrorKind, RescindError
from rescind.redaction import REDACTED, is_secret_key, normalize, replace_values
from rescind.runbook.model import Runbook


def secret_input_names(runbook: Runbook) -> set[str]:
    return {k for k, spec in runbook.inputs.items() if spec.secret}


MIN_LEAF = 8  # characters: a generated secret is longer; "1", "true", "2026" are not


class KnownSecrets:
    """The secret values one incident has seen, and which inputs and outputs hold one."""

    def __init__(self, inputs: Mapping[str, Any], secret_inputs: set[str]) -> None:
        self.secret_inputs = secret_inputs
        self.output_keys: set[tuple[str, str]] = set()  # (step id, output name)
        self.values: set[str] = {str(inputs[k]) for k in secret_inputs
                                 if inputs.get(k) not in (None, "")}

    def add(self, *values: Any) -> None:
        """Each value, and each plain value inside a mapping or list (a rotation's new
        values by path and field): one of them alone can reach a later message. Such a
        leaf shorter than MIN_LEAF is not added: a version number or a flag ("1",
        "true") would be replaced in every line of the record."""
        found = {str(v) for v in values}
        found |= {text for v in values if is_nested(v) for _, text in leaves(v)
                  if len(text) >= MIN_LEAF}
        self.values |= {text for text in found if text}

    def scrub(self, value: Any) -> Any:
        """Replace every known secret value inside ``value`` with the redaction mark."""
        return replace_values(value, self.values)

    def public_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return {k: (REDACTED if k in self.secret_inputs else v) for k, v in inputs.items()}

    def public_outputs(self, outputs: Mapping[str, Mapping[str, Any]]
                       ) -> dict[str, dict[str, Any]]:
        secret = self.output_keys
        return {sid: {k: (REDACTED if (sid, k) in secret else v) for k, v in outs.items()}
                for sid, outs in outputs.items()}

    def shown_error(self, error: RescindError) -> ActionError:
        """The failure as the responder sees it: an ActionError (not every failure is
        one, e.g. a reference to an output a skipped step never produced), with every
        secret value redacted, since the front end shows what it is given."""
        if isinstance(error, ActionError):
            kind, retryable = error.kind, error.retryable
        else:
            kind, retryable = ErrorKind.ERROR, False
        return ActionError(self.scrub(error.message), kind=kind,
                           fix=self.scrub(error.fix) if error.fix else None,
                           retryable=retryable)


def public_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings worth recording, for resume; credentials dropped at every depth.

    A key id goes with its secret: journaled alone, it would pair with another
    secret on resume."""
    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            kept = {k: clean(v) for k, v in value.items()
                    if not (is_secret_key(str(k)) or "keyid" in normalize(str(k)))}
            # A table that held only credentials leaves no trace (not even its name).
            return {k: v for k, v in kept.items() if v != {} or value[k] == {}}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value if isinstance(value, str | int | float | bool | type(None)) else str(value)

    cleaned: dict[str, Any] = clean(settings)
    return cleaned
