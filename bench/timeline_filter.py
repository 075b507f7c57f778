"""Timeline filter on 100,000 and 1,000,000 events: first rows, keystroke to repainted table.

The app runs headless at 120x40 with the timeline screen on synthetic events
(100,000, then 1,000,000). Time to first rows runs from pushing the screen to the
first frame with events in the table; the filter's index is then built in a
thread (its time is printed too). For each keystroke typed into the filter box
(then each backspace), the clock runs from sending the key until the next frame
after the filter was applied has been composed and turned into terminal output
(the escape sequences a real terminal would receive; only the final write is
skipped). The baselines, in the
same run: the same filter text evaluated over a plain Python list (the rows the
table filters), and a hand-written list comprehension over the Event objects.
Goals: median keystroke-to-repaint under 100 ms (issue 5 at 100,000; issue 13
at 1,000,000), first rows within 2 s at 1,000,000. Typing and erasing are also
reported apart: erasing finds answers the filter remembers.

    python bench/timeline_filter.py [--events 100000 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual._compositor import CompositorUpdate

from rescind.timeline.event import Event
from rescind.tui.app import RescindApp
from rescind.tui.filter import EventFilter, Rows
from rescind.tui.screens.timeline import TimelineScreen
from rescind.tui.widgets.event_table import EventTable

TYPED = "actor:deploy-bot result:failure"
SOURCES = (("cloudtrail", "aws"), ("graph.audit", "azure"), ("graph.signin", "azure"),
           ("gcp.audit", "gcp"), ("rescind", "local"))


def synthetic(n: int) -> list[Event]:
    rnd = random.Random(5)
    start = datetime(2026, 11, 13, tzinfo=UTC)
    actions = ("GetCallerIdentity", "ListBuckets", "GetObject", "CreateUser", "CreateAccessKey",
               "AssumeRole", "PutUserPolicy", "ConsoleLogin", "DeleteTrail", "ListUsers")
    actors = ("deploy-bot", "backup-admin", "alice@example.com", "bob@example.com",
              "svc-reporting")
    events = []
    for i in range(n):
        source, cloud = SOURCES[rnd.randrange(len(SOURCES))]
        events.append(Event.model_construct(
            uid=f"ev-{i}", time=start + timedelta(seconds=6 * i), source=source, cloud=cloud,
            action=rnd.choice(actions), service="iam", actor=rnd.choice(actors),
            actor_type="IAMUser", credential="AKIAIOSFODNN7EXAMPLE",
            target=f"arn:aws:iam::123456789012:user/u{rnd.randrange(500)}",
            source_ip=f"203.0.113.{rnd.randrange(1, 255)}", user_agent="aws-cli/2.15",
            result="failure" if rnd.random() < 0.04 else "success", error=None,
            region=rnd.choice(("us-east-1", "eu-west-1")), account="123456789012",
            description="", relevant=False, raw={"eventID": f"ev-{i}"}))
    return events


class BenchApp(RescindApp):
    """Records when each frame has been turned into terminal output."""

    painted_at = 0.0
    applied_at = 0.0

    def _display(self, screen: Any, renderable: Any) -> None:
        if isinstance(renderable, CompositorUpdate):
            renderable.render_segments(self.console)
            self.painted_at = time.perf_counter()
        super()._display(screen, renderable)


async def keystroke_to_repaint(events: list[Event]) -> tuple[float, float, list[float]]:
    """Seconds to the first rows, seconds until the filter can run, keystroke samples."""
    app = BenchApp(incidents_root=Path("/nonexistent"))
    samples: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        screen = TimelineScreen(None, events=events)
        original = screen.apply_filter

        def apply_filter(text: str) -> None:
            original(text)
            app.applied_at = time.perf_counter()

        screen.apply_filter = apply_filter  # type: ignore[method-assign]
        table: EventTable | None = None
        pushed = shown = time.perf_counter()
        app.push_screen(screen)
        # The first frame painted after the table holds rows.
        while table is None or not table.row_count or app.painted_at < shown:
            await asyncio.sleep(0.001)
            if table is None and screen.is_mounted:
                table = screen.query_one(EventTable)
            if table is None or not table.row_count:
                shown = time.perf_counter()
        first_rows = app.painted_at - pushed
        while len(screen.rows) != len(events):
            await asyncio.sleep(0.01)
        indexed = time.perf_counter() - pushed
        await pilot.pause(0.1)
        await pilot.press("slash")
        await pilot.pause(0.1)
        for key in [*TYPED, *["backspace"] * len(TYPED)]:
            app.applied_at = app.painted_at = 0.0
            sent = time.perf_counter()
            await pilot.press("space" if key == " " else key)
            while not (app.applied_at and app.painted_at > app.applied_at):
                await asyncio.sleep(0.001)
            samples.append(app.painted_at - sent)
    return first_rows, indexed, samples


def bare_filter(events: list[Event]) -> tuple[list[float], list[float]]:
    rows = Rows(events)
    texts = [TYPED[:n] for n in range(1, len(TYPED) + 1)]
    texts += [TYPED[:n] for n in range(len(TYPED) - 1, -1, -1)]
    same: list[float] = []
    for text in texts:
        start = time.perf_counter()
        EventFilter.parse(text).apply(rows)
        same.append(time.perf_counter() - start)
    naive: list[float] = []
    for _ in texts:
        start = time.perf_counter()
        [e for e in events if "deploy-bot" in e.actor.lower() and e.result == "failure"]
        naive.append(time.perf_counter() - start)
    return same, naive


def run(count: int) -> bool:
    events = synthetic(count)
    same, naive = bare_filter(events)
    first_rows, indexed, ui = asyncio.run(keystroke_to_repaint(events))
    ms = statistics.median
    typed, erased = ui[:len(TYPED)], ui[len(TYPED):]
    print(f"{count:,} events, {len(ui)} keystrokes ({TYPED!r} typed, then erased)")
    print(f"screen pushed -> first rows:      {first_rows * 1000:6.0f} ms (goal < 2000 ms); "
          f"filter ready after {indexed * 1000:.0f} ms")
    print(f"keystroke -> repainted table:     median {ms(ui) * 1000:6.1f} ms, "
          f"p90 {statistics.quantiles(ui, n=10)[-1] * 1000:6.1f} ms (goal < 100 ms)")
    print(f"  typing only / erasing only:     median {ms(typed) * 1000:6.1f} ms / "
          f"{ms(erased) * 1000:.1f} ms")
    print(f"same filter over a Python list:   median {ms(same) * 1000:6.1f} ms "
          f"(repaint costs {ms(ui) / ms(same):.2f}x the bare filter)")
    print(f"hand-written list comprehension:  median {ms(naive) * 1000:6.1f} ms "
          f"(the repainted table costs {ms(ui) / ms(naive):.2f}x it)")
    return ms(ui) < 0.1 and first_rows < 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    ok = [run(count) for count in args.events]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    raise SystemExit(main())
