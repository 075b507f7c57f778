"""The three ways rescind talks to a cloud (docs/architecture.md, "Modes")."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    LIVE = "live"
    DRY_RUN = "dry-run"
    EXERCISE = "exercise"

    @property
    def banner(self) -> str:
        return {"live": "LIVE", "dry-run": "DRY-RUN", "exercise": "EXERCISE"}[self.value]
