"""References in runbook values: ``${{ inputs.x }}`` and ``${{ steps.id.outputs.y }}``.

Nothing else is allowed between ``${{`` and ``}}``: no expressions, no environment,
no templating. A string that is exactly one reference resolves to the referenced
value with its type; references inside longer text are interpolated with ``str()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rescind.errors import RescindError, UsageError

OPEN = "${{"
_TOKEN = re.compile(r"\$\{\{(?P<body>.*?)\}\}", re.S)
_INPUT = re.compile(r"inputs\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
_STEP = re.compile(r"steps\.(?P<step>[a-z][a-z0-9_-]{0,62})"
                   r"\.outputs\.(?P<output>[A-Za-z_][A-Za-z0-9_-]*)")
_EXPRESSION = re.compile(r"[=!<>&|()+*/?:\[\]]")

FORMS = "${{ inputs.NAME }} or ${{ steps.ID.outputs.NAME }}"


@dataclass(frozen=True)
class Ref:
    """One reference found in a value.

    ``path`` is where it sits inside the scanned value (keys and list indexes) and
    ``offset`` where ``${{`` starts in that string.
    """

    kind: Literal["inputs", "steps"]
    name: str  # the input name, or the step id
    output: str | None  # the output name for steps references
    text: str  # as written, e.g. "${{ inputs.ticket }}"
    path: tuple[Any, ...] = ()
    offset: int = 0

    def __str__(self) -> str:
        return f"inputs.{self.name}" if self.kind == "inputs" \
            else f"steps.{self.name}.outputs.{self.output}"


@dataclass(frozen=True)
class BadRef:
    """Text between ``${{`` and ``}}`` that is not a reference (or an unclosed ``${{``)."""

    text: str
    path: tuple[Any, ...]
    offset: int
    message: str


class ReferenceSyntaxError(UsageError):
    """A value holds something in ``${{ }}`` that is not a reference."""


class ReferenceUnresolved(RescindError):
    """A reference names an input or step output that has no value (yet)."""


def _parse_token(match: re.Match[str], path: tuple[Any, ...]) -> Ref | BadRef:
    text = match.group(0)
    body = match.group("body").strip()
    if m := _INPUT.fullmatch(body):
        return Ref("inputs", m["name"], None, text, path, match.start())
    if m := _STEP.fullmatch(body):
        return Ref("steps", m["step"], m["output"], text, path, match.start())
    if OPEN in match.group("body"):
        why = "a reference cannot contain another"
    elif not body:
        why = "the reference is empty"
    elif _EXPRESSION.search(body):
        why = "expressions are not allowed in references (use when: for conditions)"
    elif body.startswith("steps.") and ".outputs." not in body:
        why = "a step is referenced through its outputs: steps.ID.outputs.NAME"
    else:
        why = "only inputs and step outputs can be referenced"
    return BadRef(text, path, match.start(), f"'{_clip(text)}' is not a reference: {why}; "
                  f"write {FORMS}")


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _scan_string(text: str, path: tuple[Any, ...]) -> Iterator[Ref | BadRef]:
    end = 0
    for match in _TOKEN.finditer(text):
        yield _parse_token(match, path)
        end = match.end()
    rest = text.find(OPEN, end)
    if rest != -1:
        yield BadRef(text[rest:], path, rest, f"'{OPEN}' is not closed with '}}}}'")


def scan_refs(value: Any, path: tuple[Any, ...] = ()) -> list[Ref | BadRef]:
    """Every reference and every malformed one in ``value`` (nested dicts, lists, strings)."""
    found: list[Ref | BadRef] = []
    if isinstance(value, str):
        found.extend(_scan_string(value, path))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and OPEN in key:
                found.append(BadRef(key, (*path, key), key.find(OPEN),
                                    "references are not expanded in keys"))
            found.extend(scan_refs(item, (*path, key)))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found.extend(scan_refs(item, (*path, i)))
    return found


def find_refs(value: Any) -> list[Ref]:
    """The references in ``value``; ReferenceSyntaxError on anything else in ``${{ }}``."""
    refs: list[Ref] = []
    for ref in scan_refs(value):
        if isinstance(ref, BadRef):
            raise ReferenceSyntaxError(ref.message)
        refs.append(ref)
    return refs


def has_refs(value: Any) -> bool:
    """Whether ``value`` holds any ``${{`` at all (well-formed or not)."""
    if isinstance(value, str):
        return OPEN in value
    if isinstance(value, Mapping):
        return any(has_refs(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_refs(v) for v in value)
    return False


def whole_ref(text: str) -> Ref | None:
    """The reference when ``text`` is exactly one reference, else None."""
    match = _TOKEN.fullmatch(text)
    if match is None or OPEN in match.group("body"):
        return None
    ref = _parse_token(match, ())
    return ref if isinstance(ref, Ref) else None


def _lookup(ref: Ref, inputs: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    if ref.kind == "inputs":
        if ref.name not in inputs:
            raise ReferenceUnresolved(f"{ref.text}: input '{ref.name}' has no value",
                                      fix=f"pass --input {ref.name}=VALUE")
        return inputs[ref.name]
    step = outputs.get(ref.name)
    if step is None:
        raise ReferenceUnresolved(f"{ref.text}: step '{ref.name}' has no outputs (it was "
                                  "skipped, failed or has not run yet)")
    assert ref.output is not None
    if ref.output not in step:
        have = ", ".join(sorted(step)) or "none"
        raise ReferenceUnresolved(f"{ref.text}: step '{ref.name}' has no output "
                                  f"'{ref.output}' (it has: {have})")
    return step[ref.output]


def _resolve_string(text: str, inputs: Mapping[str, Any],
                    outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    if OPEN not in text:
        return text
    whole = whole_ref(text)
    if whole is not None:
        return _lookup(whole, inputs, outputs)
    find_refs(text)  # any malformed reference raises before anything is filled in
    return _TOKEN.sub(lambda m: as_text(_lookup(find_refs(m.group(0))[0], inputs, outputs)),
                      text)


def as_text(value: Any) -> str:
    """How a value reads inside text, in words rather than Python's: lists as "a, b"
    (an empty one "none"), booleans as "yes"/"no", no value as "none"."""
    if isinstance(value, list | tuple | set):
        return ", ".join(as_text(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "none" if value is None else str(value)


def resolve(value: Any, inputs: Mapping[str, Any],
            outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """``value`` with every reference replaced; nested dicts and lists are copied.

    ``outputs`` maps a step id to that step's outputs. A missing input, step or
    output raises ReferenceUnresolved; a malformed reference ReferenceSyntaxError.
    """
    if isinstance(value, str):
        return _resolve_string(value, inputs, outputs)
    if isinstance(value, Mapping):
        return {k: resolve(v, inputs, outputs) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, inputs, outputs) for v in value]
    return value
