"""Reading a query engine's answer page by page (Athena, CloudTrail Lake, BigQuery).

Each page's raw records are written (redacted) to the evidence file as they arrive
and their events go into a spool, so a query that returns millions of rows is held
in bounded memory, and two rows that share an id but differ are both kept (the
spool's merge drops only identical copies). A row that cannot be placed in time is
counted, never dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rescind.redaction import redact
from rescind.timeline.event import Event
from rescind.timeline.export import open_private
from rescind.timeline.pull import PullProgress, PullResult, _spooled
from rescind.timeline.spool import Spool


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
