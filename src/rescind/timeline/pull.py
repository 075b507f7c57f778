"""Pull a credential's CloudTrail history with LookupEvents, fast and without losing a page.

LookupEvents allows 2 requests/s per account per region and 50 events a page, so
the ceiling is 100 events/s per region. Each region runs in its own thread with a
client-side limiter that spaces its requests 0.5 s apart (the server then rarely
throttles); a ThrottlingException that survives botocore's own retries is retried
here with exponential backoff and jitter, with the same NextToken, so no page is
lost. Events go into a spool as each page arrives (sorted runs on disk past
``spool.RUN_SIZE`` events, so a pull of millions stays in bounded memory) and are
returned oldest first, each identical event once.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from rescind.errors import ActionError, UsageError
from rescind.providers.aws_errors import EXPIRED_CODES, PERMISSION_CODES, THROTTLE_CODES
from rescind.redaction import redact
from rescind.timeline.cloudtrail import MalformedRecord, from_lookup_event
from rescind.timeline.event import Event
from rescind.timeline.export import open_private
from rescind.timeline.merge import SpooledEvents
from rescind.timeline.spool import Spool

LOOKUP_KEYS = ("AccessKeyId", "Username", "EventName", "ResourceName", "ResourceType",
               "EventId", "ReadOnly", "EventSource")
PAGE_SIZE = 50
RATE_PER_REGION = 2.0  # LookupEvents' published limit, requests per second
THROTTLE_GIVE_UP_S = 300.0
MAX_ROLE_SESSIONS = 200
# The provider's error codes (bad signature, unknown key id, ... are "expired"), plus
# CloudTrail's refusal and a request signed with a skewed clock.
_THROTTLE_CODES = THROTTLE_CODES
_PERMISSION_CODES = PERMISSION_CODES | {"OperationNotPermittedException"}
_EXPIRED_CODES = EXPIRED_CODES | {"RequestExpired"}

ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class PullProgress:
    """A snapshot after each page: totals so far across regions."""

    events: int
    pages: int
    regions_done: list[str]
    regions_total: int
    throttled: int
    region: str = ""


@dataclass
class PullResult:
    events: list[Event] | SpooledEvents
    pages: int
    regions_done: list[str]
    throttled: int
    raw_pages_paths: list[Path] = field(default_factory=list)
    duplicates: int = 0
    malformed: int = 0
    lookups: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. what a query engine scanned

    def close(self) -> None:
        """Remove the events' runs on disk, if they wait there."""
        if isinstance(self.events, SpooledEvents):
            self.events.close()


class RegionLimiter:
    """Spaces one region's requests at least ``1/rate`` seconds apart (thread-safe)."""

    def __init__(self, rate: float = RATE_PER_REGION) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event | None = None) -> None:
        """Block until this region may send; returns early (raising) once ``stop`` is set."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            _sleep(start - now, stop)


class _Stopped(Exception):
    """Another region failed, or the pull was cancelled: stop this region quietly."""


def _sleep(seconds: float, stop: threading.Event | None) -> None:
    if stop is None:
        time.sleep(seconds)
    elif stop.wait(seconds):
        raise _Stopped


class _Totals:
    """Counters shared by the region threads, and the progress callback's feed."""

    def __init__(self, regions_total: int,
                 report: Callable[[PullProgress], None] | None) -> None:
        self.lock = threading.Lock()
        self.events = 0
        self.pages = 0
        self.throttled = 0
        self.regions_done: list[str] = []
        self.regions_total = regions_total
        self.report = report

    def count_throttle(self) -> None:
        with self.lock:
            self.throttled += 1

    def page(self, region: str, events: int) -> None:
        with self.lock:
            self.pages += 1
            self.events += events
            snapshot = self._snapshot(region)
        if self.report:
            self.report(snapshot)

    def done(self, region: str) -> None:
        with self.lock:
            self.regions_done.append(region)
            snapshot = self._snapshot(region)
        if self.report:
            self.report(snapshot)

    def _snapshot(self, region: str) -> PullProgress:
        return PullProgress(events=self.events, pages=self.pages,
                            regions_done=list(self.regions_done),
                            regions_total=self.regions_total, throttled=self.throttled,
                            region=region)


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _wire_page(response: dict[str, Any]) -> dict[str, Any]:
    """A parsed LookupEvents response back in its wire shape (EventTime in epoch seconds)."""
    events = []
    for entry in response.get("Events", []):
        entry = dict(entry)
        when = entry.get("EventTime")
        if isinstance(when, datetime):
            entry["EventTime"] = when.timestamp()
        events.append(entry)
    page: dict[str, Any] = {"Events": events}
    if response.get("NextToken"):
        page["NextToken"] = response["NextToken"]
    return redact(page)  # type: ignore[no-any-return]


def _count_throttles(client: Any, totals: _Totals) -> Callable[[], None]:
    """Count every throttled attempt, including those botocore retries by itself.

    Returns the function that removes the hook: clients are cached by the provider, so
    a hook left behind would stay on the client after this pull.
    """

    def on_retry_check(response: Any = None, **_: Any) -> None:
        if response is not None:
            parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
            if isinstance(parsed, dict) and parsed.get("Error", {}).get("Code") in _THROTTLE_CODES:
                totals.count_throttle()

    event = "needs-retry.cloudtrail.LookupEvents"
    client.meta.events.register(event, on_retry_check)
    return lambda: client.meta.events.unregister(event, on_retry_check)


Keep = Callable[[list[Event]], None]


def _pull_region(client: Any, region: str, lookup: tuple[str, str], since: datetime,
                 until: datetime, limiter: RegionLimiter, totals: _Totals,
                 sink: TextIO | None, stop: threading.Event, keep: Keep) -> int:
    """All pages of one region, in order, each page's events given to ``keep``; returns
    how many entries were malformed.

    Pages are normalized as they arrive, while the limiter holds the next request.
    """
    remove_hook = _count_throttles(client, totals)
    try:
        return _pages(client, region, lookup, since, until, limiter, totals, sink, stop, keep)
    finally:
        remove_hook()


def _pages(client: Any, region: str, lookup: tuple[str, str], since: datetime,
           until: datetime, limiter: RegionLimiter, totals: _Totals,
           sink: TextIO | None, stop: threading.Event, keep: Keep) -> int:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    malformed = 0
    token: str | None = None
    rng = random.Random()
    while True:
        kwargs: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": lookup[0], "AttributeValue": lookup[1]}],
            "StartTime": since, "EndTime": until, "MaxResults": PAGE_SIZE}
        if token:
            kwargs["NextToken"] = token
        backoff = 0.5
        waited = 0.0
        while True:
            limiter.wait(stop)
            try:
                response = client.lookup_events(**kwargs)
                break
            except ClientError as exc:
                code = _error_code(exc)
                if code not in _THROTTLE_CODES:
                    raise _action_error(code, region, exc) from None
                if waited >= THROTTLE_GIVE_UP_S:
                    raise ActionError(
                        f"CloudTrail in {region} kept throttling for {int(waited)} s",
                        kind="throttled",
                        fix="retry later; another tool may be using LookupEvents in this "
                            "account and region") from None
                # Same request, same token: the page is retried, never skipped.
                delay = rng.uniform(0, backoff)  # full jitter
                _sleep(delay, stop)
                waited += delay
                backoff = min(backoff * 2, 20.0)
            except NoCredentialsError:
                raise ActionError("no AWS credentials found", kind="expired",
                                  fix="sign in (aws sso login), pass --profile, or set "
                                      "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY") from None
            except BotoCoreError as exc:
                raise ActionError(f"CloudTrail in {region} could not be reached: {exc}",
                                  kind="error", fix="check the network and the endpoint") from None
        page = _wire_page(response)
        if sink is not None:
            sink.write(json.dumps(page, separators=(",", ":"), default=str) + "\n")
            sink.flush()
        totals.page(region, len(page["Events"]))
        events: list[Event] = []  # one page's: the spool holds the rest
        for entry in page["Events"]:
            try:
                events.append(from_lookup_event(entry))
            except MalformedRecord:
                malformed += 1
        keep(events)
        token = response.get("NextToken")
        if not token:
            return malformed


def _action_error(code: str, region: str, exc: BaseException) -> ActionError:
    if code in _PERMISSION_CODES:
        return ActionError(f"not allowed to read CloudTrail in {region}: {exc}",
                           kind="permission", retryable=False,
                           fix="grant cloudtrail:LookupEvents to the responder's identity")
    if code in _EXPIRED_CODES:
        return ActionError(f"the AWS credentials were rejected in {region}: {exc}",
                           kind="expired", fix="refresh the credentials (e.g. aws sso login)")
    return ActionError(f"LookupEvents failed in {region}: {exc}", kind="error",
                       retryable=code not in ("InvalidLookupAttributesException",
                                              "InvalidTimeRangeException"))


def _unique(path: Path) -> Path:
    """``path``, or ``name-2.jsonl``, ``name-3.jsonl``...: evidence is never overwritten."""
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


async def pull_cloudtrail(
        client_factory: ClientFactory, *, regions: list[str], lookup: tuple[str, str],
        since: datetime, until: datetime,
        progress: Callable[[PullProgress], None] | None = None,
        evidence_dir: Path | None = None) -> PullResult:
    """Pull every event matching ``lookup`` in ``regions`` between ``since`` and ``until``.

    ``client_factory(region)`` returns a boto3 CloudTrail client for that region
    (the caller sets endpoint, credentials and retry mode). ``lookup`` is one
    LookupEvents attribute, e.g. ("AccessKeyId", "AKIA..."). Raw pages are written
    to ``evidence_dir`` as JSONL, one file per region, in LookupEvents' own shape.
    The result's events wait in a spool: ``close()`` it when done.
    """
    spool = Spool()
    try:
        part = await _pull_into(spool, client_factory, regions=regions, lookup=lookup,
                                since=since, until=until, progress=progress,
                                evidence_dir=evidence_dir)
        return _spooled(spool, [part], part.regions_done)
    except BaseException:
        spool.close()
        raise


def _spooled(spool: Spool, parts: list[PullResult], regions_done: list[str]) -> PullResult:
    """One result for the parts of a pull whose events all went to ``spool``."""
    events = SpooledEvents(spool)
    shared = events.merged.collision_count
    return PullResult(events=events, pages=sum(p.pages for p in parts),
                      regions_done=regions_done, throttled=sum(p.throttled for p in parts),
                      raw_pages_paths=[path for p in parts for path in p.raw_pages_paths],
                      duplicates=events.duplicates, malformed=sum(p.malformed for p in parts),
                      lookups=[lk for p in parts for lk in p.lookups],
                      notes=[f"{shared:,} shared ids: records with one id but different "
                             "content, all kept"] if shared else [])


async def _pull_into(
        spool: Spool, client_factory: ClientFactory, *, regions: list[str],
        lookup: tuple[str, str], since: datetime, until: datetime,
        progress: Callable[[PullProgress], None] | None,
        evidence_dir: Path | None) -> PullResult:
    """``pull_cloudtrail``'s work, its events added to ``spool`` page by page (the
    result's own ``events`` stay empty)."""
    if lookup[0] not in LOOKUP_KEYS:
        raise UsageError(f"cannot look up CloudTrail by {lookup[0]!r}",
                         fix=f"use one of {', '.join(LOOKUP_KEYS)}")
    if not regions:
        raise UsageError("no region to pull from", fix="name at least one region")
    since, until = _utc(since), _utc(until)
    if since > until:
        raise UsageError("--since is after --until", fix="swap them")
    regions = list(dict.fromkeys(regions))
    loop = asyncio.get_running_loop()
    totals = _Totals(len(regions), threadsafe(progress))
    paths: list[Path] = []
    if evidence_dir is not None:
        evidence_dir.mkdir(parents=True, exist_ok=True)

    spooling = threading.Lock()  # the region threads share the spool

    def keep(events: list[Event]) -> None:
        with spooling:
            for event in events:
                spool.add(event)

    def run_region(region: str) -> int:
        client = client_factory(region)
        limiter = RegionLimiter()
        sink: TextIO | None = None
        if evidence_dir is not None:
            path = _unique(evidence_dir / (f"cloudtrail-lookup-{region}-{_safe(lookup[0])}-"
                                           f"{_safe(lookup[1])}.jsonl"))
            paths.append(path)
            sink = open_private(path)
        try:
            malformed = _pull_region(client, region, lookup, since, until, limiter, totals,
                                     sink, stop, keep)
        except _Stopped:
            return 0  # the pull as a whole is failing or cancelled: nothing to report
        finally:
            if sink is not None:
                sink.close()
        totals.done(region)
        return malformed

    # One thread per region: the default executor is too small for many regions.
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=len(regions),
                            thread_name_prefix="cloudtrail-pull") as pool:
        try:
            results = await asyncio.gather(
                *(loop.run_in_executor(pool, run_region, r) for r in regions))
        except BaseException:
            stop.set()  # the other regions stop at their next wait, then the pool closes
            raise
    return PullResult(events=[], pages=totals.pages, regions_done=totals.regions_done,
                      throttled=totals.throttled, raw_pages_paths=sorted(paths),
                      malformed=sum(results), lookups=[lookup])


def threadsafe(progress: Callable[[PullProgress], None] | None
               ) -> Callable[[PullProgress], None] | None:
    """``progress`` as a callback a worker thread may call: it runs on this event loop."""
    if progress is None:
        return None
    loop, callback = asyncio.get_running_loop(), progress

    def report(snapshot: PullProgress) -> None:
        loop.call_soon_threadsafe(callback, snapshot)

    return report


def _dedupe(events: Iterable[Event]) -> tuple[list[Event], int]:
    """Each EventId once, oldest first; and how many repeats were dropped."""
    by_id: dict[str, Event] = {}
    duplicates = 0
    for event in events:
        if event.uid in by_id:
            duplicates += 1
        else:
            by_id[event.uid] = event
    return sorted(by_id.values(), key=lambda e: (e.time, e.uid)), duplicates


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def role_name(role: str) -> str:
    """``arn:aws:iam::123456789012:role/path/name`` or ``name`` → ``name``."""
    return role.rsplit("/", 1)[-1] if role.startswith("arn:") else role


def session_keys(events: Iterable[Event], role: str) -> list[str]:
    """Temporary key ids issued by AssumeRole* calls for ``role`` (ARN or name)."""
    name = role_name(role)
    keys: list[str] = []
    for event in events:
        raw = event.raw or {}
        if not event.action.startswith("AssumeRole") or event.result != "success":
            continue
        params = raw.get("requestParameters") or {}
        arn = str(params.get("roleArn", ""))
        if arn != role and role_name(arn) != name:
            continue
        creds = (raw.get("responseElements") or {}).get("credentials") or {}
        if isinstance(creds, dict) and creds.get("accessKeyId"):
            keys.append(str(creds["accessKeyId"]))
    return list(dict.fromkeys(keys))


async def pull_cloudtrail_role(
        client_factory: ClientFactory, *, regions: list[str], role: str,
        since: datetime, until: datetime,
        progress: Callable[[PullProgress], None] | None = None,
        evidence_dir: Path | None = None) -> PullResult:
    """What a role did, in two stages (LookupEvents cannot filter by a role ARN).

    1. ``ResourceName`` = the role's ARN and its name: the AssumeRole* calls that
       issued its sessions (the role's ARN is their resource) and changes made to
       the role itself (IAM names it by roleName).
    2. ``AccessKeyId`` = each session key those AssumeRole calls returned: every call
       the sessions made, in every region. At most MAX_ROLE_SESSIONS sessions are
       followed (each costs one request per region).
    """
    name = role_name(role)
    stage_one = [("ResourceName", role)] + ([("ResourceName", name)] if name != role else [])
    spool = Spool()  # every stage's events, so copies across stages meet in one merge
    try:
        parts = [await _pull_into(spool, client_factory, regions=regions, lookup=lookup,
                                  since=since, until=until, progress=progress,
                                  evidence_dir=evidence_dir) for lookup in stage_one]
        keys = session_keys(spool, role)
        for key in keys[:MAX_ROLE_SESSIONS]:
            parts.append(await _pull_into(spool, client_factory, regions=regions,
                                          lookup=("AccessKeyId", key), since=since,
                                          until=until, progress=progress,
                                          evidence_dir=evidence_dir))
        return _spooled(spool, parts, list(regions))
    except BaseException:
        spool.close()
        raise
