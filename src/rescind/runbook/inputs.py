"""Runbook inputs: turning ``--input KEY=VALUE`` strings into typed, checked values.

The same rules check an input's ``default`` when the runbook is validated, so a
default that could never be typed on the command line is caught before a run.
A ``secret: true`` input's value never appears in a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rescind.errors import UsageError
from rescind.runbook.messages import did_you_mean
from rescind.runbook.model import InputSpec, Runbook

INPUT_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def as_text(value: Any) -> str:
    """The text form of a typed value, as it would be typed on the command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def convert(spec: InputSpec, value: Any) -> Any:
    """``value`` (text, or already typed) as the input's type; ValueError says why not.

    The message never contains the value itself, so it is safe for secrets.
    """
    if spec.type == "string":
        if not isinstance(value, str):
            raise ValueError("expected text")
        return value
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("expected true or false")
    if spec.type == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value.strip())
        raise ValueError("expected a whole number")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value.strip())
    raise ValueError("expected a number")


def check(spec: InputSpec, value: Any) -> Any:
    """Convert ``value`` and check it against the input's pattern and choices."""
    typed = convert(spec, value)
    text = value if isinstance(value, str) else as_text(typed)
    if spec.pattern is not None:
        try:
            matched = re.search(spec.pattern, text) is not None
        except re.error:
            raise ValueError(f"its pattern {spec.pattern!r} is not a valid regular expression"
                             ) from None
        if not matched:  # the description says what to enter (or which runbook instead)
            raise ValueError(f"does not match the pattern {spec.pattern}"
                             + (f": {spec.description}" if spec.description else ""))
    if spec.choices is not None:
        allowed = []
        for choice in spec.choices:
            try:
                allowed.append(convert(spec, choice))
            except ValueError:
                continue
        if typed not in allowed:
            raise ValueError(f"must be one of: {', '.join(spec.choices)}")
    return typed


def coerce_inputs(runbook: Runbook, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Typed values for every declared input: given ones converted and checked, the rest
    from their defaults.

    Raises UsageError listing every unknown, missing or bad input at once.
    """
    errors: list[str] = []
    values: dict[str, Any] = {}
    for name in raw:
        if name not in runbook.inputs:
            declared = ", ".join(runbook.inputs) or "none"
            errors.append(f"unknown input '{name}'"
                          + (did_you_mean(name, runbook.inputs) or f" (this runbook's inputs: "
                             f"{declared})"))
    for name, spec in runbook.inputs.items():
        given = name in raw
        if not given and spec.default is None:
            about = f" ({spec.description})" if spec.description else ""
            errors.append(f"input '{name}' is required{about}")
            continue
        value = raw[name] if given else spec.default
        try:
            values[name] = check(spec, value)
        except ValueError as exc:
            shown = "the value given" if spec.secret else repr(value)
            origin = "" if given else " (its default in the runbook)"
            errors.append(f"input '{name}': {shown}{origin} {_verb(str(exc))}")
    if errors:
        raise UsageError(f"bad input for runbook '{runbook.id}':\n"
                         + "\n".join(f"  - {e}" for e in errors),
                         fix="pass each input as --input NAME=VALUE")
    return values


def _verb(reason: str) -> str:
    """Join "VALUE" and a reason into a sentence: 'x' is not ..., 'x' does not match ..."""
    if reason.startswith(("does ", "must ")):
        return reason
    if reason.startswith("its "):
        return f"cannot be checked: {reason}"
    return f"is wrong: {reason}"
