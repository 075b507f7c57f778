"""The incident header: mode banner, runbook, elapsed time; ids, head and the latest
checkpoint; and per provider the account and the identity rescind acts as."""

from __future__ import annotations

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
        """One row, as k9s's context line: a provider acting as one identity shows its
        account and principal; one with several (notify's recipients) their count. A
        problem wraps instead, so its fix shows whole."""
        found = self._identities or []
        problem = any(not who.ok for who in found)
        width = max(self.size.width - 2, 1)  # the row's padding
        # The first that fits: everything; several identities as a count; ARNs cut short.
        for collapse, short in ((False, False), (True, False), (True, True)):
            text = identity_line(found, collapse=collapse, short=short)
            if problem or text.cell_len <= width:
                break
        if not problem:
            text.no_wrap, text.overflow = True, "ellipsis"
        self.query_one("#header-identity", Static).update(text)

    def show_identity_problem(self, text: str) -> None:
        self.query_one("#header-identity", Static).update(
            Text(f"acting as: ✗ could not check: {text}", style="bold red", no_wrap=True,
                 overflow="ellipsis"))

    def _tick(self) -> None:
        if self._started is not None:
            clock_text = f"elapsed {clock.elapsed(self._started)} "
            self.query_one("#header-clock", Static).update(clock_text)


def identity_line(identities: Sequence[Identity], *, collapse: bool, short: bool) -> Text:
    """``aws 123456789012 as arn:…:user/responder  notify: 3 recipients``. ``collapse``
    counts a provider's identities when it has several; ``short`` cuts an ARN to what
    follows its account, which the line already names."""
    text = Text()
    if not identities:
        text.append("acting as: no cloud provider in this runbook", style="dim")
    by_provider: dict[str, list[Identity]] = {}
    for who in identities:
        by_provider.setdefault(who.provider, []).append(who)
    # Providers acting as one identity first: a cut at the right edge falls on counts.
    order = sorted(by_provider, key=lambda name: len(by_provider[name]) > 1)
    for n, name in enumerate(order):
        group = by_provider[name]
        text.append("  " if n else "")
        bad = [who for who in group if not who.ok]
        if bad:
            text.append(f"{name} ", style="bold")
            text.append(f"✗ {bad[0].problem}", style="bold red")
        elif collapse and len(group) > 1:
            noun = "recipients" if all(w.account.startswith("recipient ") for w in group) \
                else "identities"
            text.append(f"{name}: ", style="bold")
            text.append(f"{len(group)} {noun}")
        else:
            for m, who in enumerate(group):
                text.append(f"{'  ' if m else ''}{name} ", style="bold")
                text.append(who.account or "?", style="bold")
                text.append(" as ", style="dim")
                text.append(_short_arn(who.principal, who.account) if short
                            else who.principal)
    return text


def _short_arn(principal: str, account: str) -> str:
    marker = f":{account}:"
    if account and principal.startswith("arn:") and marker in principal:
        return principal.split(marker, 1)[1]
    return principal
