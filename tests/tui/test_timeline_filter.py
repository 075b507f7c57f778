"""The timeline filter and the virtual table, up to 100,000 events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.widgets import Static

from rescind.timeline.event import Event
from rescind.tui.app import RescindApp
from rescind.tui.filter import FIELDS, EventFilter, Rows, parse_time
from rescind.tui.screens.timeline import TimelineScreen
from rescind.tui.widgets.event_table import EventTable
from tests.tui.conftest import screen_named, text_of, wait_for

START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SOURCES = (("cloudtrail", "aws"), ("graph.audit", "azure"), ("graph.signin", "azure"),
           ("gcp.audit", "gcp"), ("rescind", "local"))


def synthetic(n: int, seed: int = 7) -> list[Event]:
    rnd = random.Random(seed)
    events = []
    for i in range(n):
        source, cloud = SOURCES[rnd.randrange(len(SOURCES))]
        events.append(Event.model_construct(
            uid=f"e{i}", time=START + timedelta(seconds=3 * i), source=source, cloud=cloud,
            action=rnd.choice(("ListBuckets", "CreateUser", "CreateAccessKey", "AssumeRole")),
            service="iam", actor=rnd.choice(("deploy-bot", "backup-admin", "alice@example.com")),
            actor_type="IAMUser", credential="AKIAIOSFODNN7EXAMPLE",
            target=f"arn:aws:iam::123456789012:user/u{i % 50}",
            source_ip=rnd.choice(("203.0.113.50", "198.51.100.7")), user_agent="aws-cli/2",
            result="failure" if rnd.random() < 0.05 else "success", error=None,
            region="us-east-1", account="123456789012", description="", relevant=i % 997 == 0,
            raw={"n": i}))
    return events


def test_terms_fields_negation_and_time_range() -> None:
    events = synthetic(2000)
    rows = Rows(events)

    def count(text: str) -> int:
        return len(EventFilter.parse(text).apply(rows))

    assert count("") == 2000
    assert count("actor:deploy-bot") == sum(e.actor == "deploy-bot" for e in events)
    assert count("ACTOR:Deploy-Bot") == count("actor:deploy-bot")
    assert count("result:failure ip:203.0.113.50") == sum(
        e.result == "failure" and e.source_ip == "203.0.113.50" for e in events)
    assert count("-action:list") == sum("list" not in e.action.lower() for e in events)
    assert count("source:graph") == sum(e.source.startswith("graph") for e in events)
    # The label a responder sees filters too.
    assert count("source:entra") == count("source:graph")
    assert count('"arn:aws:iam::123456789012:user/u7"') == 40
    assert count("arn:aws:iam::123456789012:user/u7") == 40  # the colon belongs to the value
    since, until = START + timedelta(minutes=10), START + timedelta(minutes=20)
    assert count("since:2026-11-20T08:10 until:2026-11-20T08:20") == sum(
        since <= e.time <= until + timedelta(seconds=59) for e in events)
    assert count("relevant:yes") == sum(e.relevant for e in events)
    # A timeline out of time order (a late import) filters the same, without bisecting.
    shuffled = Rows(list(reversed(events)))
    assert not shuffled.time_sorted
    window = EventFilter.parse("since:2026-11-20T08:10 until:2026-11-20T08:20 actor:alice")
    assert len(window.apply(shuffled)) == len(window.apply(rows)) > 0


def test_remembered_and_narrowed_answers_equal_a_fresh_scan() -> None:
    """Typing on narrows the last answer and backspace finds an older one: every answer
    must be what a filter over fresh rows (nothing remembered) gives, also after a mark."""
    events = synthetic(3000)
    rows, fresh_rows = Rows(events), Rows(events)

    def fresh_scan(text: str) -> list[int]:
        fresh_rows.memo.clear()
        return list(EventFilter.parse(text).apply(fresh_rows))

    typed = "actor:deploy-bot -action:list result:fail u1 relevant:yes"
    texts = [typed[:n] for n in range(len(typed) + 1)]
    for text in [*texts, *reversed(texts), "-ip:203", "-ip:203.0", "ip:", "source:gcp"]:
        assert list(EventFilter.parse(text).apply(rows)) == fresh_scan(text), text
    assert rows.memo  # answers were remembered, so the loop above compared them
    marked = next(i for i, e in enumerate(events) if not e.relevant and e.actor == "deploy-bot")
    rows.set_relevant(marked, True)
    events[marked].relevant = True
    fresh_rows = Rows(events)
    for text in ("relevant:yes", "actor:deploy-bot relevant:yes", "relevant:no"):
        assert list(EventFilter.parse(text).apply(rows)) == fresh_scan(text), text
    assert rows.relevant_count == sum(e.relevant for e in events)


def test_half_typed_time_is_reported_and_ignored() -> None:
    parsed = EventFilter.parse("actor:alice since:2026-11-2")
    assert parsed.since is None and parsed.problems
    assert [t.value for t in parsed.terms] == ["alice"]
    assert parse_time("2026-11-20", end=True) == parse_time("2026-11-21") - 1e-6  # type: ignore[operator]


@pytest.mark.slow
async def test_hundred_thousand_events_filter_and_cursor(identity: None, workdir: Path) -> None:
    events = synthetic(100_000)
    app = RescindApp(incidents_root=Path("incidents"))
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(TimelineScreen(None, events=events))
        await wait_for(pilot, screen_named(pilot, "TimelineScreen"), "the timeline")
        screen = app.screen
        await wait_for(pilot, lambda: screen.query(EventTable), "the table")
        table = screen.query_one(EventTable)
        await wait_for(pilot, lambda: table.row_count == 100_000, "all rows")
        # The rows show before the filter's index exists; a filter typed meanwhile waits.
        await wait_for(pilot, lambda: len(screen.rows) == 100_000, "the filter's rows",
                       timeout=60)
        await pilot.press("end")
        assert table.current_index == 99_999
        await pilot.press("slash", *"result:failure")
        expected = [i for i, e in enumerate(events) if e.result == "failure"]
        assert table.row_count == len(expected)
        assert table.current_index == expected[-1]  # the cursor kept its place
        await pilot.press("enter", "home")
        assert table.current_index == expected[0]
        detail = text_of(screen.query_one("#timeline-raw", Static))
        assert f"uid: {events[expected[0]].uid}" in detail and "FAILURE" in detail


def test_unknown_fields_and_or_are_flagged_not_silently_empty() -> None:
    parsed = EventFilter.parse("foo:bar actor:alice OR actor:bob")
    assert parsed.problems == ["unknown field foo: (use " + ", ".join(FIELDS) + ")",
                               "OR is not supported: every term must hold"]
    assert [t.value for t in parsed.terms] == ["alice", "bob"]
    assert not EventFilter.parse("arn:aws:iam::123456789012:user/u7 10:30").problems


def _reference(rows: Rows, parsed: EventFilter) -> list[int]:
    """The filter's meaning row by row, with none of its shortcuts (no postings, no memo)."""
    low = parsed.since if parsed.since is not None else float("-inf")
    high = parsed.until if parsed.until is not None else float("inf")
    return [i for i in range(len(rows))
            if low <= rows.ts[i] <= high
            and (parsed.relevant is None or rows.relevant[i] == parsed.relevant)
            and all((t.value in (rows.blob[i] if t.field is None else rows.columns[t.field][i]))
                    != t.negate for t in parsed.terms)]


def test_postings_and_narrowing_give_the_row_by_row_answer() -> None:
    """Column terms answered from postings (one value, several, negated, in a time range,
    beside a word, typed on and erased) give exactly the row-by-row answer."""
    rows, few = Rows(synthetic(1500)), Rows(synthetic(150))
    assert rows.postings[FIELDS.index("target")] is not None  # 50 values in 1,500 rows
    assert few.postings[FIELDS.index("target")] is None  # 50 in 150: scanned instead
    typed = "actor:deploy-bot -action:create result:fail u1 since:2026-11-20T09"
    texts = [typed[:n] for n in range(len(typed) + 1)]
    extra = ["actor:a", "-actor:a", "actor:-", "-result:success", "source:graph -source:audit",
             "action:e until:2026-11-20T08:30", "actor:deploy-bot actor:deploy-bot", "ip:nope",
             "since:2026-11-20T09 -actor:alice relevant:no", "-region:us"]
    for text in [*texts, *reversed(texts), *extra]:
        parsed = EventFilter.parse(text)
        for timeline in (rows, few):
            assert list(parsed.apply(timeline)) == _reference(timeline, parsed), text
    assert len(EventFilter.parse("actor:deploy-bot").apply(rows)) > 300


class _SlowFirstRead:
    """A session whose first timeline read is held until released: the older of two
    loads, begun before a pull again finished, ends after the newer one."""

    closed = False

    def __init__(self, first: list[Event], second: list[Event]) -> None:
        import threading

        self.answers = [first, second]
        self.release = threading.Event()
        self.reads = 0

    def timeline(self) -> list[Event]:
        self.reads += 1
        if self.reads == 1:
            self.release.wait(timeout=30)
            return self.answers[0]
        return self.answers[1]


async def test_an_older_timeline_read_never_replaces_a_newer_one(
        identity: None, workdir: Path) -> None:
    events = synthetic(19)
    session = _SlowFirstRead(events[:18], events)
    app = RescindApp(incidents_root=Path("incidents"))
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(TimelineScreen(None, session=session))  # type: ignore[arg-type]
        await wait_for(pilot, screen_named(pilot, "TimelineScreen"), "the timeline")
        screen = app.screen
        await wait_for(pilot, lambda: session.reads == 1, "the first read")
        screen.action_reload()  # as a finished pull again does
        await wait_for(pilot, lambda: len(screen.rows) == 19, "the newer read")
        session.release.set()
        await wait_for(pilot, lambda: not [w for w in screen.workers if not w.is_finished],
                       "the older read to end")
        await pilot.pause()
        assert len(screen.events) == len(screen.rows) == 19
        assert screen.query_one(EventTable).row_count == 19
