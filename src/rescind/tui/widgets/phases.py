"""The five phases with their progress; the current one is marked in words and colour."""

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
                mark, style = "▶", "bold reverse"
            elif finished:
                mark, style = "✓", "green"
            else:
                mark, style = "·", "dim"
            cell = f" {mark} {phase} {done}/{total} "
            text.append(cell.ljust(width)[:width], style=style)
        return text

    def _is_past(self, phase: str) -> bool:
        if self._current is None:
            return False
        return PHASES.index(phase) < PHASES.index(self._current)
