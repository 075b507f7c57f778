"""Time windows as responders type them: ``-7d``, ``-2h``, ``now``, or ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from rescind.errors import UsageError

_OFFSET_RE = re.compile(r"^([+-])\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(value: str | datetime, now: datetime | None = None) -> datetime:
    """``-7d`` / ``+5m`` / ``now`` relative to ``now`` (default: the current time), or ISO → UTC."""
    now = now or datetime.now(UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = value.strip()
    if text == "now":
        return now
    match = _OFFSET_RE.match(text)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        seconds = float(match.group(2)) * _UNIT_SECONDS[match.group(3)]
        return now + timedelta(seconds=sign * seconds)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not a time: {value!r}",
                         fix="use an offset like -7d, -2h, -30m, or an ISO 8601 time") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
