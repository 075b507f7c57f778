"""The five phases as one progress bar: each phase a segment, filled as its steps finish.

The fill is reverse video, so it reads without colour (NO_COLOR); the phase under
way is bold with ▶, finished ones carry ✓. A glance says how far the incident is.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from rescind.runbook.model import PHASES


class PhaseBar(Static):
    def __init__(self) -> None:
        super().__init__("", id="phase-bar")
        self._progress: dict[str, tuple[int, int]] = {p: (0, 0) for p in PHASES}
        self._current: str | None = None

    def show(self, progress: dict[str, tuple[int, int]], current: str | None) -> None:
        self._progress = progress
        self._current = current
        self.refresh()

    def render(self) -> Text:
        width = max(self.size.width // len(PHASES), 12)
        text = Text(no_wrap=True, overflow="ellipsis")
        for phase in PHASES:
            done, total = self._progress.get(phase, (0, 0))
            finished = (total > 0 and done == total) or (total == 0 and self._is_past(phase))
            if phase == self._current:
                mark, fill, rest = "▶", "bold reverse", "bold"
            elif finished:
                mark, fill, rest = "✓", "reverse green", "green"
            else:
                mark, fill, rest = "·", "reverse", "dim"
            cell = f" {mark} {phase}".ljust(width - 1)[:width - 1]
            filled = width - 1 if finished else round((width - 1) * done / total) if total else 0
            text.append(cell[:filled], style=fill)
            text.append(cell[filled:], style=rest)
            text.append("▕" if phase != PHASES[-1] else "", style="dim")
        return text

    def _is_past(self, phase: str) -> bool:
        if self._current is None:
            return False
        return PHASES.index(phase) < PHASES.index(self._current)
