"""The Messages pane: every notification of the incident, sent or not, and why not.

A tabletop sees what would have gone out (captured in exercise, blocked in
dry-run); a live responder sees each delivery's receipt, or its failure and the
fix. The list is the journal's (``session.messages()``, so it survives a resume)
plus what was sent after the seal, which only the engine's event carries. Status
is in words and a glyph, so NO_COLOR reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from rescind.textsafe import visible
from rescind.tui.widgets.plain import Plain

_STATUS = {
    "sent": ("✓ sent", "green"),
    "captured": ("◆ captured (exercise: not sent)", "cyan"),
    "would-send": ("⊘ blocked (dry-run: not sent)", "yellow"),
    "pending": ("… pending (after the seal)", "dim"),
    "failed": ("✗ FAILED", "bold red"),
}
_WORD = {"would-send": "blocked"}
_PURPOSE = {"approval-request": "approval request", "phase-comment": "phase comment",
            "sealed-report": "sealed report"}
_LINES = 6  # of each message's text: enough to recognise it; the journal has it all


def render_message(m: Mapping[str, Any]) -> Text:
    status = str(m.get("status", ""))
    label, style = _STATUS.get(status, (status, ""))
    text = Text()
    text.append(f"{label:<14}", style=style)
    when = str(m.get("time", ""))[11:19]
    if when:
        text.append(f" {when}", style="dim")
    text.append(f"  {visible(m.get('channel', ''))} → {visible(m.get('target', ''))} "
                f"({visible(m.get('recipient', ''))})")
    text.append(f"\n  {visible(m.get('subject', ''))}", style="bold")
    purpose = _PURPOSE.get(str(m.get("purpose", "")))
    if purpose or m.get("step"):
        text.append(f"  · {purpose or 'step ' + visible(m['step'])}", style="dim")
    lines = str(m.get("text", "")).splitlines()
    for line in lines[:_LINES]:
        text.append(f"\n  │ {visible(line)}", style="dim")
    if len(lines) > _LINES:
        text.append(f"\n  │ … {len(lines) - _LINES} more line(s) in the journal", style="dim")
    if status == "failed":
        text.append(f"\n  error: {visible(m.get('error', ''))}", style="red")
        if m.get("fix"):
            text.append(f"\n  fix: {visible(m['fix'])}")
    elif m.get("receipt"):
        text.append(f"\n  receipt: {visible(m['receipt'])}", style="dim")
    return text


def summary(messages: Iterable[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for m in messages:
        counts[str(m.get("status", ""))] = counts.get(str(m.get("status", "")), 0) + 1
    if not counts:
        return "No messages yet: notify.send steps and approval requests appear here."
    parts = [f"{n} {_WORD.get(s, s)}" for s, n in counts.items()]
    return f"Messages ({sum(counts.values())}): " + ", ".join(parts)


class MessagesPane(VerticalScroll, can_focus=True):
    HELP_TITLE = "Messages"

    def __init__(self) -> None:
        super().__init__(id="messages-pane")
        self.messages: list[dict[str, Any]] = []
        self._unjournaled: list[dict[str, Any]] = []  # sent after the seal

    def compose(self) -> ComposeResult:
        yield Plain(summary([]), id="messages-list")

    def add_unjournaled(self, data: Mapping[str, Any]) -> None:
        self._unjournaled.append(dict(data))

    def show(self, journaled: Iterable[Mapping[str, Any]]) -> None:
        self.messages = [*map(dict, journaled), *self._unjournaled]
        heading = Text(summary(self.messages), style="bold")
        body = [render_message(m) for m in self.messages]
        self.query_one("#messages-list", Static).update(
            Group(heading, *(Group(Text(""), b) for b in body)))
