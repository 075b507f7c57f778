"""The app's one clock, so tests and screenshots can freeze the elapsed time."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def elapsed(since: datetime) -> str:
    seconds = max(int((now() - since).total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
