"""The incident over time: events per interval by source and result, with the responder's
own actions on the same axis.

One model for both pictures, the bars across the top of the timeline screen and
the SVG beside report.md, so the two always agree. The responder's actions are
the timeline's rescind events, which come from the journal's ``action.outcome``
entries. "Contained" is the first successful action that changes something;
"attacker's last" is the last pulled event the responder marked relevant (or,
with nothing marked, the last one made with a credential a change targeted).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rescind.timeline.event import Event
from rescind.timeline.merge import RESCIND_SOURCE

MAX_SERIES = 4  # sources drawn apart; the rest share "other"
OTHER = "other"


@dataclass(frozen=True)
class Action:
    """One responder action on the axis."""

    time: float  # epoch seconds
    label: str
    ok: bool
    changes: bool  # not read-only: it can contain


@dataclass
class Histogram:
    start: float = 0.0
    step: float = 1.0  # seconds per bin
    bins: int = 0
    series: dict[str, list[int]] = field(default_factory=dict)  # source -> counts, by volume
    failures: list[int] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    attacker_last: float | None = None
    contained: float | None = None

    @property
    def end(self) -> float:
        return self.start + self.step * self.bins

    def bin_of(self, time: float) -> int:
        return max(0, min(self.bins - 1, int((time - self.start) / self.step)))

    @property
    def gap(self) -> float | None:
        """Seconds from the attacker's last action to containment (negative: after it)."""
        if self.attacker_last is None or self.contained is None:
            return None
        return self.contained - self.attacker_last

    @property
    def peak(self) -> int:
        return max((max(c) for c in self.series.values() if c), default=0)


def responder_actions(events: Iterable[Event]) -> list[Action]:
    return [Action(e.time.timestamp(), e.action, e.result == "success", e.relevant)
            for e in events if e.source == RESCIND_SOURCE]


def build(events: Sequence[Event], bins: int) -> Histogram:
    """Bin ``events`` (pulled and rescind's own, any order) into ``bins`` intervals."""
    actions = sorted(responder_actions(events), key=lambda a: a.time)
    pulled = [e for e in events if e.source != RESCIND_SOURCE]
    times = [e.time.timestamp() for e in pulled] + [a.time for a in actions]
    if not times or bins < 1:
        return Histogram(actions=actions)
    start, end = min(times), max(times)
    hist = Histogram(start=start, step=max(end - start, 1.0) / bins, bins=bins,
                     actions=actions, failures=[0] * bins)
    totals: dict[str, int] = {}
    for e in pulled:
        totals[e.source] = totals.get(e.source, 0) + 1
    ranked = sorted(totals, key=lambda s: -totals[s])
    apart = ranked if len(ranked) <= MAX_SERIES else ranked[:MAX_SERIES - 1]
    hist.series = {s: [0] * bins for s in apart}
    if len(apart) < len(ranked):
        hist.series[OTHER] = [0] * bins
    for e in pulled:
        b = hist.bin_of(e.time.timestamp())
        hist.series[e.source if e.source in apart else OTHER][b] += 1
        if e.result == "failure":
            hist.failures[b] += 1
    hist.contained = next((a.time for a in actions if a.ok and a.changes), None)
    hist.attacker_last = _attacker_last(pulled, events)
    return hist


def _attacker_last(pulled: list[Event], events: Sequence[Event]) -> float | None:
    marked = [e.time.timestamp() for e in pulled if e.relevant]
    if marked:
        return max(marked)
    targets = {t.strip() for e in events if e.source == RESCIND_SOURCE and e.relevant
               for t in e.target.split(",") if t.strip()}
    used = [e.time.timestamp() for e in pulled if e.credential and e.credential in targets]
    return max(used) if used else None
