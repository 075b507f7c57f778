"""Wording shared by the loader and the validator: what was found, what was expected."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from rescind.runbook.model import STEP_ID

_EXPECTED = {
    "string_type": "text", "int_type": "an integer", "int_parsing": "an integer",
    "int_from_float": "an integer", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true/false", "bool_parsing": "true/false", "dict_type": "a mapping",
    "list_type": "a list", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "tuple_type": "a list", "set_type": "a list",
}


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``; did you mean 'x'?`` suffix when one candidate is close, else ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def describe(value: Any) -> str:
    """How a YAML value reads, for "found ..." in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"text {clip(value)!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def expected(error_type: str) -> str:
    """What a pydantic type error expected, in words ("" when it is not a type error)."""
    return _EXPECTED.get(error_type, "")


def one_of(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def value_message(err: Any, value: Any) -> str:
    """A pydantic error about ``value`` as one sentence: expected this, found that."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    found = describe(value)
    if expected(kind):
        return f"expected {expected(kind)}, found {found}"
    if kind == "literal_error":
        return f"expected {ctx['expected']}, found {found}"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == STEP_ID:
        return ("an id is lowercase letters, digits, '-' and '_', starting with a letter "
                f"(at most 63), found {found}")
    if kind == "string_pattern_mismatch":
        return f"expected text matching {ctx['pattern']}, found {found}"
    msg = str(err["msg"])
    return f"{msg[:1].lower()}{msg[1:]}, found {found}"
