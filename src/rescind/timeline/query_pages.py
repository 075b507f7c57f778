"""Waiting for a query engine's query, and reading its answer page by page (Athena,
CloudTrail Lake, BigQuery).

``wait_for_query`` polls a remote query with backoff until it ends (Athena and
CloudTrail Lake; BigQuery's client waits itself). Each page's raw records are
written (redacted) to the evidence file as they arrive and their events go into a
spool, so a query that returns millions of rows is held in bounded memory, and two
rows that share an id but differ are both kept (the spool's merge drops only
identical copies). A row that cannot be placed in time is counted, never dropped
silently.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from rescind.errors import ActionError
from rescind.redaction import redact
from rescind.timeline.event import Event
from rescind.timeline.export import open_private
from rescind.timeline.pull import PullProgress, PullResult, _spooled
from rescind.timeline.spool import Spool

POLL_FIRST_S = 0.1
POLL_MAX_S = 2.0
QUERY_GIVE_UP_S = 1800.0


def wait_for_query(check: Callable[[], tuple[str | None, dict[str, Any]]], *, name: str,
                   done: str, failed: Mapping[str, bool], reason: str, fix: str,
                   sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Poll ``check`` (the query's state, and what the engine said of it) until the state
    is ``done``, then return what was said. A state in ``failed`` (mapped to whether
    asking again may help) raises with the engine's ``reason`` field and ``fix``; a query
    still running after QUERY_GIVE_UP_S of polling raises too. ``name`` is the query
    as messages say it ("Athena query ID")."""
    delay, waited = POLL_FIRST_S, 0.0
    while True:
        state, said = check()
        if state == done:
            return said
        if state in failed:
            raise ActionError(f"the {name} {str(state).lower()}: {said.get(reason) or state}",
                              retryable=failed[str(state)], fix=fix)
        if waited >= QUERY_GIVE_UP_S:
            raise ActionError(f"the {name} ran for {int(waited)} s",
                              fix="narrow the window or the regions, then pull again")
        sleep(delay)  # a remote query's progress: nothing local to wait on
        waited += delay
        delay = min(delay * 2, POLL_MAX_S)


def spool_pages(pages: Iterable[list[dict[str, Any]]], to_event: Callable[[dict[str, Any]], Event],
                skip: tuple[type[Exception], ...], *, evidence: Path | None, shape: str,
                done: list[str], lookup: tuple[str, str],
                progress: Callable[[PullProgress], None] | None = None,
                ) -> PullResult:
    """Every page's records written to ``evidence`` as ``{shape: [...]}`` lines (the shape
    ``timeline convert`` reads back) and made events with ``to_event``; a record raising
    one of ``skip`` is counted as malformed. ``done`` names the regions or projects the
    query covered. The result's events wait in a spool: ``close()`` it when done."""
    spool = Spool()
    count = malformed = number = 0
    sink = None
    try:
        if evidence is not None:
            evidence.parent.mkdir(parents=True, exist_ok=True)
            sink = open_private(evidence)
        for records in pages:
            number += 1
            if sink is not None:
                sink.write(json.dumps(redact({shape: records}), separators=(",", ":"),
                                      default=str) + "\n")
            for record in records:
                try:
                    spool.add(to_event(record))
                    count += 1
                except skip:
                    malformed += 1
            if progress is not None:
                progress(PullProgress(events=count, pages=number, regions_done=[],
                                      regions_total=len(done), throttled=0))
        part = PullResult(events=[], pages=number, regions_done=done, throttled=0,
                          raw_pages_paths=[evidence] if evidence is not None else [],
                          malformed=malformed, lookups=[lookup])
        return _spooled(spool, [part], done)
    except BaseException:
        spool.close()
        raise
    finally:
        if sink is not None:
            sink.close()
