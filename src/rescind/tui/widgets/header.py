"""The incident header: mode banner, runbook, elapsed time; ids, head and the latest
checkpoint; and per provider the account and the identity rescind acts as."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from rescind.modes import Mode
from rescind.tui import clock
from rescind.tui.widgets.plain import Plain

if TYPE_CHECKING:
    from rescind.engine.identity import Identity


class IncidentHeader(Vertical):
    """Line one: mode banner, runbook title, elapsed time. Line two: incident id, head and
    the latest checkpoint. Line three: who rescind acts as, per provider (k9s's context).

    The banner says LIVE, DRY-RUN or EXERCISE in words; red, amber and blue only
    reinforce it (NO_COLOR terminals still read the word).
    """

    def __init__(self) -> None:
        super().__init__(id="incident-header")
        self._started: datetime | None = None
        self._incident_id = ""
        self._ids = Text()
        self._checkpoint = Text()
        self._identities: list[Identity] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="header-top"):
            yield Plain(" … ", id="mode-banner")
            yield Plain("opening the incident…", id="header-title")
            yield Plain("", id="header-clock")
        yield Plain("", id="header-ids")
        yield Plain(Text("acting as: checking…", style="dim"), id="header-identity")

    def on_mount(self) -> None:
        self.set_interval(1, self._tick)

    def show_incident(self, mode: Mode, title: str, incident_id: str,
                      started: datetime) -> None:
        banner = self.query_one("#mode-banner", Static)
        banner.update(f" {mode.banner} ")
        banner.set_classes(f"mode-{mode.value}")
        self.query_one("#header-title", Static).update(Text(f" {title}", style="bold"))
        self._started = started
        self._incident_id = incident_id
        self._tick()

    def show_head(self, head: str, seq: int) -> None:
        self._ids = Text.assemble(("  head ", "dim"), (head[:12], "bold"),
                                  (f"…  seq {seq}", "dim"))
        self._show_ids()

    def show_checkpoint(self, anchor_line: str) -> None:
        """``ANCHOR <incident> seq=N sha256=… key=…``: the journal so far is signed."""
        fields = dict(p.split("=", 1) for p in anchor_line.split() if "=" in p)
        seq = fields.get("seq", "?")
        self._checkpoint = Text.assemble(("  ✓ signed at seq ", "dim"), (seq, "bold"))
        self._show_ids()

    def _show_ids(self) -> None:
        # Most telling first: at 80 columns the cut falls on the head hash and the hint.
        hint = ("  a copies the anchor", "dim") if self._checkpoint else ""
        self.query_one("#header-ids", Static).update(
            Text.assemble(("incident ", "dim"), (self._incident_id, "bold"), self._checkpoint,
                          self._ids, hint, no_wrap=True, overflow="ellipsis"))

    def show_identities(self, identities: Sequence[Identity]) -> None:
        self._identities = list(identities)
        self._show_identities()

    def on_resize(self) -> None:
        if self._identities is not None:
            self._show_identities()

    def _show_identities(self) -> None:
        """One row, as k9s's context line: the first of these that fits, else cut at the
        right edge. A problem wraps instead, so its fix shows whole."""
        found = self._identities or []
        row = self.query_one("#header-identity", Static)
        problem = any(not who.ok for who in found)
        row.set_class(problem, "-problem")
        width = max(self.size.width - 2, 1)  # the row's padding
        for level in range(len(SHORTER)):
            text = identity_line(found, level)
            if problem or text.cell_len <= width:
                break
        row.update(text)

    def show_identity_problem(self, text: str) -> None:
        self.query_one("#header-identity", Static).update(
            Text(f"acting as: ✗ could not check: {text}", style="bold red", no_wrap=True,
                 overflow="ellipsis"))

    def _tick(self) -> None:
        if self._started is not None:
            clock_text = f"elapsed {clock.elapsed(self._started)} "
            self.query_one("#header-clock", Static).update(clock_text)


# How the identity row gets shorter, step by step: notify's recipients counted;
# accounts without their note, ARNs without the account they repeat; then
# every provider with several identities counted.
SHORTER = ("full", "recipients counted", "short names", "all counted")


def identity_line(identities: Sequence[Identity], level: int = 0) -> Text:
    """``aws account 123456789012 (credential chain) as arn:aws:iam::123456789012:user/x``,
    shortened to level ``level`` of SHORTER (``aws account 123456789012 as user/x  notify:
    3 recipients``)."""
    text = Text()
    if not identities:
        text.append("acting as: no cloud provider in this runbook", style="dim")
    by_provider: dict[str, list[Identity]] = {}
    for who in identities:
        by_provider.setdefault(who.provider, []).append(who)
    # Clouds first: a cut at the right edge falls on the notify recipients.
    order = sorted(by_provider, key=lambda name: _recipients(by_provider[name]))
    for n, name in enumerate(order):
        group = by_provider[name]
        text.append("  " if n else "")
        bad = [who for who in group if not who.ok]
        counted = (level >= 1 and _recipients(group)) or (level >= 3 and len(group) > 1)
        if bad:
            text.append(f"{name} ", style="bold")
            text.append(f"✗ {bad[0].problem}", style="bold red")
        elif counted:
            text.append(f"{name}: ", style="bold")
            text.append(f"{len(group)} {'recipients' if _recipients(group) else 'identities'}")
        else:
            for m, who in enumerate(group):
                text.append(f"{'  ' if m else ''}{name} ", style="bold")
                short = level >= 2
                text.append((_short_place(who.account) if short else who.account) or "?",
                            style="bold")
                text.append(" as ", style="dim")
                text.append(_short_arn(who.principal, who.account) if short
                            else who.principal)
    return text


def _recipients(group: Sequence[Identity]) -> bool:
    return len(group) > 1 and all(w.account.startswith("recipient ") for w in group)


def _short_place(account: str) -> str:
    """``account 123456789012 (credential chain)`` → ``account 123456789012``."""
    return re.sub(r"\s*\(.*\)$", "", account)


def _short_arn(principal: str, account: str) -> str:
    """``arn:aws:iam::123456789012:user/x`` → ``user/x`` when the row names the account."""
    parts = principal.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[4] and parts[4] in account:
        return parts[5]
    return principal
