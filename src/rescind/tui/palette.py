"""The command palette: every action of the screens in the stack, by name.

Each screen may offer ``palette_items() -> list[PaletteItem]``; the provider asks the
screens from the top down, so from the timeline the incident's commands (close,
verify) are still one search away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True)
class PaletteItem:
    name: str
    help: str
    run: Callable[[], object]


class RescindCommands(Provider):
    def _items(self) -> list[PaletteItem]:
        items: list[PaletteItem] = []
        seen: set[str] = set()
        for screen in reversed(self.app.screen_stack):
            offer = getattr(screen, "palette_items", None)
            if offer is None:
                continue
            for item in offer():
                if item.name not in seen:
                    seen.add(item.name)
                    items.append(item)
        return items

    async def discover(self) -> Hits:
        for item in self._items():
            yield DiscoveryHit(item.name, partial(item.run), help=item.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for item in self._items():
            score = matcher.match(item.name)
            if score > 0:
                yield Hit(score, matcher.highlight(item.name), partial(item.run), help=item.help)
