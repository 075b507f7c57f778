"""The command palette: every action of the screens in the stack, by name.

Each screen may offer ``palette_items() -> list[PaletteItem]``; the provider asks the
screens from the top down, so from the timeline the incident's commands (close,
verify) are still one search away. Names and help carry runbook and incident text,
so neither is read as markup (Textual parses a hit's string prompt and help as markup).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher


@dataclass(frozen=True)
class PaletteItem:
    name: str
    help: str
    run: Callable[[], object]


def _literal(text: str) -> str:
    """``text`` as markup that reads back as exactly ``text``."""
    return text.replace("[", "\\[")


def _highlight(matcher: Matcher, name: str) -> Content:
    """``name`` with the query's matched characters styled, never parsed as markup."""
    content = Content(name)
    _, offsets = matcher.fuzzy_search.match(matcher.query, name)
    for offset in offsets:
        if not name[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


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
            yield DiscoveryHit(Content(item.name), partial(item.run), text=item.name,
                               help=_literal(item.help))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for item in self._items():
            score = matcher.match(item.name)
            if score > 0:
                yield Hit(score, _highlight(matcher, item.name), partial(item.run),
                          text=item.name, help=_literal(item.help))
