"""Settings as the engine holds them: nested tables, merged layer over layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Flat names incidents journaled before settings had tables (and embedders may
# still pass): ``aws_profile`` is ``aws.profile``; these two had no prefix.
_LEGACY_AWS = ("break_glass", "max_targets")


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, table by table (a value that is not a table replaces)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def normalise(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Nested tables, with the flat legacy names moved into ``[aws]``."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key.startswith("aws_"):
            out = merge(out, {"aws": {key[4:]: value}})
        elif key in _LEGACY_AWS:
            out = merge(out, {"aws": {key: value}})
        else:
            out = merge(out, {key: value})
    return out
