"""Pull an identity's Cloud Audit Logs with ``entries:list``, under the per-project quota.

Cloud Logging allows 60 ``entries.list`` requests per minute per project and 1,000
entries a page. Each project is read in its own thread, its requests spaced evenly
at the quota (so the service rarely refuses); a RESOURCE_EXHAUSTED that still comes
is retried with backoff and the *same* page token, so no page is lost. The window is
always sent as ``timestamp`` bounds: a filter without one silently means "the last
24 hours". Entries are de-duplicated by ``insertId`` and returned oldest first.

The page loop uses google-cloud-logging's own JSON connection (credentials, endpoint,
errors as google.api_core exceptions) rather than ``Client.list_entries``, whose
generator hides the page token a retry must reuse.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from rescind.errors import ActionError
from rescind.redaction import redact
from rescind.timeline.event import Event
from rescind.timeline.gcp_audit import MalformedEntry, NotAudit, from_entry
from rescind.timeline.pull import (
    PullProgress,
    PullResult,
    RegionLimiter,
    _dedupe,
    _Stopped,
    _Totals,
    _unique,
    threadsafe,
)

PAGE_SIZE = 1000
THROTTLE_GIVE_UP_S = 300.0
# Pace a little under the quota: requests arrive with jitter, and a refused one
# costs more than the margin.
PACE = 0.95
AUDIT_LOGS = ('logName:"cloudaudit.googleapis.com%2Factivity" OR '
              'logName:"cloudaudit.googleapis.com%2Fdata_access"')


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_filter(lookup: tuple[str, str], since: datetime, until: datetime) -> str:
    """The entries.list filter: the window (always), the audit logs, whose entries."""
    kind, value = lookup
    who = (f'protoPayload.authenticationInfo.principalEmail="{value}"' if kind == "principal"
           else f'protoPayload.authenticationInfo.serviceAccountKeyName:"{value}"')
    return (f'timestamp>="{_stamp(since)}" AND timestamp<="{_stamp(until)}" AND '
            f"({AUDIT_LOGS}) AND {who}")


def _normalise(entries: list[Any]) -> tuple[list[Event], int]:
    events: list[Event] = []
    skipped = 0
    for entry in entries:
        try:
            events.append(from_entry(entry))
        except (NotAudit, MalformedEntry, TypeError, ValueError):
            skipped += 1
    return events, skipped


def _pages(provider: Any, project: str, body: dict[str, Any], limiter: RegionLimiter,
           totals: _Totals, sink: TextIO | None,
           stop: threading.Event) -> tuple[list[Event], int]:
    """Every page of one project, in order: (events, entries skipped).

    Pages are normalised on a second thread, so the next request leaves on time
    even when a page of 1,000 entries takes a while to read.
    """
    from google.api_core import exceptions as gx

    from rescind.providers.gcp_errors import translate_error

    client = provider.logging_client(project)
    normalised: list[Future[tuple[list[Event], int]]] = []
    token = ""
    rng = random.Random()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gcp-normalise") as reader:
        while True:
            request = {**body, **({"pageToken": token} if token else {})}
            backoff, waited = max(limiter.interval, 0.2), 0.0
            while True:
                limiter.wait(stop)
                try:
                    page = client._connection.api_request(method="POST", path="/entries:list",
                                                          data=request)
                    break
                except (gx.TooManyRequests, gx.ResourceExhausted, gx.ServiceUnavailable) as exc:
                    totals.count_throttle()
                    if waited >= THROTTLE_GIVE_UP_S:
                        raise translate_error(exc, permission="logging.logEntries.list",
                                              resource=f"projects/{project}") from None
                    delay = rng.uniform(backoff / 2, backoff)  # same request, same token
                    if stop.wait(delay):
                        raise _Stopped from None
                    waited += delay
                    backoff = min(backoff * 2, 30.0)
                except Exception as exc:
                    raise translate_error(exc, permission="logging.logEntries.list",
                                          resource=f"projects/{project}") from None
            entries = page.get("entries") or []
            if sink is not None:
                sink.write(json.dumps(redact(page), separators=(",", ":")) + "\n")
                sink.flush()
            totals.page(project, len(entries))
            normalised.append(reader.submit(_normalise, entries))
            token = str(page.get("nextPageToken") or "")
            if not token:
                break
    results = [f.result() for f in normalised]
    return ([e for found, _ in results for e in found], sum(bad for _, bad in results))


async def pull_audit_logs(provider: Any, *, projects: list[str], lookup: tuple[str, str],
                          since: datetime, until: datetime,
                          progress: Callable[[PullProgress], None] | None = None,
                          evidence_dir: Path | None = None) -> PullResult:
    """Every audit entry of ``lookup`` (("principal", email) or ("key", id)) in ``projects``."""
    if since > until:
        raise ActionError("the window starts after it ends", retryable=False,
                          fix="swap since and until")
    loop = asyncio.get_running_loop()
    totals = _Totals(len(projects), threadsafe(progress))
    paths: list[Path] = []
    if evidence_dir is not None:
        evidence_dir.mkdir(parents=True, exist_ok=True)
    rate = provider.log_requests_per_minute / 60.0 * PACE
    stop = threading.Event()

    def run_project(project: str) -> tuple[list[Event], int]:
        body = {"resourceNames": [f"projects/{project}"], "orderBy": "timestamp asc",
                "pageSize": PAGE_SIZE, "filter": build_filter(lookup, since, until)}
        sink: TextIO | None = None
        if evidence_dir is not None:
            path = _unique(evidence_dir / f"gcp-audit-{project}-{lookup[0]}.jsonl")
            paths.append(path)
            sink = path.open("w", encoding="utf-8")
        try:
            pulled = _pages(provider, project, body, RegionLimiter(rate), totals, sink, stop)
        except _Stopped:
            return [], 0  # another project failed, or the pull was cancelled
        finally:
            if sink is not None:
                sink.close()
        totals.done(project)
        return pulled

    with ThreadPoolExecutor(max_workers=max(1, len(projects)),
                            thread_name_prefix="gcp-log-pull") as pool:
        try:
            results = await asyncio.gather(
                *(loop.run_in_executor(pool, run_project, p) for p in projects))
        except BaseException:
            stop.set()
            raise
    events, duplicates = _dedupe(e for found, _ in results for e in found)
    return PullResult(events=events, pages=totals.pages, regions_done=totals.regions_done,
                      throttled=totals.throttled, raw_pages_paths=sorted(paths),
                      duplicates=duplicates, malformed=sum(bad for _, bad in results),
                      lookups=[lookup])
