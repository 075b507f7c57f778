"""The blast radius as a tree: leaked key → its user → what it created → their policies,
each node marked contained or not (in words and a glyph, so NO_COLOR reads it)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from rich.tree import Tree
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from rescind.engine.blast_radius import Node
from rescind.tui.widgets.plain import Plain

_KIND = {"key": "key", "user": "user", "policy": "policy", "login": "", "group": "group",
         "created": ""}


def node_label(node: Node) -> Text:
    text = Text()
    kind = _KIND.get(node.kind, node.kind)
    if kind:
        text.append(f"{kind} ", style="dim")
    text.append(node.name, style="bold" if node.kind in ("key", "user") else "")
    if node.contained is True:
        text.append("  ✓ contained", style="green")
    elif node.contained is False:
        text.append("  ✗ NOT contained", style="bold red")
    return text


def render_tree(roots: Sequence[Node]) -> Tree:
    tree = Tree(Text("Blast radius", style="bold"), guide_style="dim")

    def add(parent: Tree, node: Node) -> None:
        branch = parent.add(node_label(node))
        for child in node.children:
            add(branch, child)

    for root in roots:
        add(tree, root)
    return tree


class BlastRadius(VerticalScroll, can_focus=True):
    HELP_TITLE = "Blast radius"

    def __init__(self) -> None:
        super().__init__(id="blast-radius")
        self.roots: list[Node] = []

    def compose(self) -> ComposeResult:
        yield Plain(Text("Built once the describe step is done.", style="dim"),
                    id="blast-tree")

    def show(self, roots: Sequence[Node]) -> None:
        self.roots = list(roots)
        if roots:
            self.query_one("#blast-tree", Static).update(render_tree(roots))
