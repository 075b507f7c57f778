"""Entra's and Azure's timeline sources: Graph audit logs and sign-ins, the Activity Log.

``entra``: ``auditLogs/directoryAudits`` (what the user or app initiated, and what was
done to it) and ``auditLogs/signIns``, filtered by time and principal, following
``@odata.nextLink``, at most 5 requests per 10 s per tenant (the published limit; a
429's ``Retry-After`` is honoured by kiota's retry handler and, past it, here).
``azure``: ``activity_logs.list`` with ``eventTimestamp ge … and eventTimestamp le …``;
the caller is filtered again on our side in case the service ignores ``caller eq``.
Raw pages go to evidence as the APIs returned them; ``convert`` reads them back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rescind.errors import ActionError, ErrorKind, UsageError
from rescind.redaction import redact
from rescind.timeline import entra_ocsf  # noqa: F401  (sign-ins export as OCSF Authentication)
from rescind.timeline.convert import DEFAULT_LIMITS, ConvertResult
from rescind.timeline.entra_records import convert_files, group_activity, to_event
from rescind.timeline.event import Event
from rescind.timeline.limits import Limits
from rescind.timeline.pull import PullProgress, PullResult, threadsafe
from rescind.timeline.sources import TimelineSource, lookup_of, register, via_option

GRAPH_RATE = (5, 10.0)  # requests per seconds, per tenant (auditLogs)
SIGNIN_PAGE = 1000
AUDIT_PAGE = 1000
THROTTLE_GIVE_UP_S = 300.0


class SlidingLimiter:
    """At most ``count`` requests in any ``window`` seconds (async, shared per tenant)."""

    def __init__(self, count: int = GRAPH_RATE[0], window: float = GRAPH_RATE[1]) -> None:
        self.count, self.window = count, window
        self.sent: deque[float] = deque()
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                while self.sent and now - self.sent[0] >= self.window:
                    self.sent.popleft()
                if len(self.sent) < self.count:
                    self.sent.append(now)
                    return
                await asyncio.sleep(self.window - (now - self.sent[0]))

    def settle(self) -> None:
        """Re-stamp the latest request at the time its answer came back. Graph counted it
        somewhere between send and answer: a window measured from the send let the sixth
        request reach Graph inside Graph's window (a 429 and at least a second lost)."""
        if self.sent:
            self.sent[-1] = max(self.sent[-1], time.monotonic())

    def pause(self, seconds: float) -> None:
        """After a 429: count the window as full until ``Retry-After`` has passed."""
        now = time.monotonic()
        self.sent.clear()
        self.sent.extend([now + seconds - self.window] * self.count)


def _iso(when: datetime, *, up: bool = False) -> str:
    """Whole seconds, as the filters take them; ``up`` rounds a window's end up, so
    an event in the last part-second before it is not left out."""
    if up and when.microsecond:
        when += timedelta(seconds=1)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EntraLookup(BaseModel):
    """Whose Entra history to pull: exactly one of these."""

    model_config = ConfigDict(extra="forbid")
    user: str | None = Field(default=None, description="A user: object id or UPN")
    service_principal: str | None = Field(default=None, description="A service principal: "
                                          "object id or application (client) id")
    via: Literal["graph", "log-analytics"] = Field(
        default="graph", description="graph: Microsoft Graph's audit logs and sign-ins "
        "(5 requests per 10 s, 30 days); log-analytics: KQL over the workspace the tenant's "
        "diagnostic settings send to (entra.workspace_id)")

    @model_validator(mode="after")
    def _one(self) -> EntraLookup:
        if (self.user is None) == (self.service_principal is None):
            raise ValueError("give exactly one of user, service_principal")
        return self


class AzureLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caller: str = Field(description="The caller as the Activity Log names it: a UPN, or a "
                                    "service principal's or managed identity's object id")
    subscription: str | None = Field(default=None, description="Subscription (default: the "
                                     "first of azure.subscriptions)")
    via: Literal["activity-log", "log-analytics"] = Field(
        default="activity-log", description="activity-log: the Activity Log API, one "
        "subscription, 90 days; log-analytics: KQL over the AzureActivity table of "
        "azure.workspace_id")


def _write_pages(evidence_dir: Path | None, name: str, pages: list[Any]) -> list[Path]:
    if evidence_dir is None or not pages:
        return []
    evidence_dir.mkdir(parents=True, exist_ok=True)
    path = evidence_dir / name
    with path.open("w", encoding="utf-8") as out:
        for page in pages:
            out.write(json.dumps(redact(page), separators=(",", ":"), default=str) + "\n")
    return [path]


def _events(records: list[dict[str, Any]]) -> tuple[list[Event], int]:
    events, bad = [], 0
    for record in records:
        try:
            events.append(to_event(record))
        except ValueError:
            bad += 1
    return events, bad


@register
class EntraSource(TimelineSource):
    name = "entra"
    provider = "entra"
    lookup_model = EntraLookup
    description = "The Entra ID user or service principal to trace (audit logs, sign-ins)"
    cloud_name = "Entra ID"
    place = "tenant"
    permissions = ("AuditLog.Read.All", "User.Read.All", "Application.Read.All")

    def describe(self, lookup: EntraLookup) -> str:
        via = " (Log Analytics)" if lookup.via == "log-analytics" else ""
        return (f"user {lookup.user}" if lookup.user else
                f"service principal {lookup.service_principal}") + via

    def regions(self, provider: Any, requested: list[str], table: dict[str, Any]) -> list[str]:
        return ["global"]

    def place_name(self, provider: Any, lookup: Any, region: str) -> str:
        return f"tenant {provider.tenant_id}" if provider.tenant_id else "the tenant"

    async def resolve(self, provider: Any, lookup: EntraLookup,
                      account: str | None) -> dict[str, Any]:
        if lookup.user:
            user = await provider.call(lambda g: g.users.by_user_id(lookup.user).get(),
                                       permission="User.Read.All",
                                       resource=f"user {lookup.user}")
            return {"kind": "user", "id": str(user.id), "name": str(user.user_principal_name),
                    "via": lookup.via}
        key = str(lookup.service_principal)
        try:
            sp = await provider.call(lambda g: g.service_principals.by_service_principal_id(key)
                                     .get(), permission="Application.Read.All",
                                     resource=f"service principal {key}")
        except ActionError as exc:
            if exc.kind != ErrorKind.NOT_FOUND:
                raise
            sp = await provider.call(lambda g: g.service_principals_with_app_id(key).get(),
                                     permission="Application.Read.All",
                                     resource=f"service principal {key}")
        return {"kind": "sp", "id": str(sp.id), "name": str(sp.display_name), "via": lookup.via}

    async def pull(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                   account: str | None, since: datetime, until: datetime,
                   progress: Callable[[PullProgress], None] | None,
                   evidence_dir: Path | None) -> PullResult:
        oid = state["id"]
        if state.get("via") == "log-analytics":
            from rescind.timeline.loganalytics import entra_queries, pull_workspace

            return await asyncio.to_thread(
                pull_workspace, provider.logs_client(), provider.workspace(),
                entra_queries(state["kind"], oid), since=since, until=until,
                lookup=("principal", state["name"]), progress=threadsafe(progress),
                evidence_dir=evidence_dir)
        window = f"ge {_iso(since)} and {{0}} le {_iso(until, up=True)}"
        if state["kind"] == "user":
            initiated = f"initiatedBy/user/id eq '{oid}'"
            signins = f"userId eq '{oid}'"
        else:
            initiated = f"initiatedBy/app/servicePrincipalId eq '{oid}'"
            signins = (f"servicePrincipalId eq '{oid}' and "
                       "signInEventTypes/any(t: t eq 'servicePrincipal')")
        queries = [
            ("directoryAudits", AUDIT_PAGE, f"activityDateTime {window.format('activityDateTime')}"
                                            f" and {initiated}"),
            ("directoryAudits", AUDIT_PAGE, f"activityDateTime {window.format('activityDateTime')}"
                                            f" and targetResources/any(t: t/id eq '{oid}')"),
            ("signIns", SIGNIN_PAGE, f"createdDateTime {window.format('createdDateTime')} and "
                                     f"{signins}")]
        limiter = provider_limiter(provider)
        records: dict[str, dict[str, Any]] = {}
        pages: list[Any] = []
        throttled = 0
        for log, top, expression in queries:
            url: str | None = (f"{provider.graph_url}/auditLogs/{log}?$filter="
                               f"{quote(expression, safe='')}&$top={top}")
            while url:
                await limiter.wait()
                page, retries = await _get_page(provider, url, limiter)
                throttled += retries
                pages.append(page)
                for record in page.get("value", []):
                    key = f"{log}:{record.get('id')}"
                    records.setdefault(key, record)
                url = page.get("@odata.nextLink")
                if progress:
                    progress(PullProgress(events=len(records), pages=len(pages),
                                          regions_done=[], regions_total=1,
                                          throttled=throttled, region="global"))
        events, bad = _events(list(records.values()))
        for event in events:
            event.relevant = event.relevant or event.result == "failure"
        events.sort(key=lambda e: e.time)
        paths = _write_pages(evidence_dir, f"entra-{oid}.jsonl", pages)
        duplicates = sum(len(p.get("value", [])) for p in pages) - len(records)
        return PullResult(events=events, pages=len(pages), regions_done=["global"],
                          throttled=throttled, raw_pages_paths=paths, duplicates=duplicates,
                          malformed=bad, lookups=[("principal", state["name"])])

    async def estimate(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                       since: datetime, until: datetime) -> str | None:
        if state.get("via") != "log-analytics":
            return None
        from rescind.timeline.loganalytics import entra_queries

        return await _workspace_cost(provider, entra_queries(state["kind"], state["id"]),
                                     since, until)

    def normalise(self, record: dict[str, Any]) -> Event:
        return to_event(record)

    def convert(self, paths: list[Path], limits: Limits = DEFAULT_LIMITS) -> ConvertResult:
        return convert_files(paths, limits)

    def add_arguments(self, group: Any) -> None:
        group.add_argument("--entra-user", metavar="UPN", help="an Entra ID user (UPN or id)")
        group.add_argument("--entra-sp", metavar="ID",
                           help="an Entra ID service principal (object or application id)")

    def lookup_from_args(self, args: argparse.Namespace) -> EntraLookup | None:
        user, sp = getattr(args, "entra_user", None), getattr(args, "entra_sp", None)
        if not user and not sp:
            return None
        if user and sp:
            raise UsageError("give one of --entra-user and --entra-sp",
                             fix="trace one principal at a time")
        given = {"user": user, "service_principal": sp, **via_option(args, EntraLookup)}
        return lookup_of(EntraLookup, given, {
            "user": ("--entra-user", "a user (UPN or object id)"),
            "service_principal": ("--entra-sp", "a service principal (object or "
                                                "application id)")},
            fix="give --entra-user UPN or --entra-sp ID")


async def _workspace_cost(provider: Any, queries: list[Any], since: datetime,
                          until: datetime) -> str:
    from rescind.timeline.loganalytics import count_rows, describe_cost

    counts = await asyncio.to_thread(count_rows, provider.logs_client(), provider.workspace(),
                                     queries, since, until)
    return describe_cost(counts, since, until)


_LIMITERS: dict[tuple[int, int], SlidingLimiter] = {}


def provider_limiter(provider: Any) -> SlidingLimiter:
    """The tenant's limiter for the running event loop (asyncio locks belong to one loop)."""
    key = (id(provider), id(asyncio.get_running_loop()))
    if key not in _LIMITERS:
        _LIMITERS[key] = SlidingLimiter(*GRAPH_RATE)
    return _LIMITERS[key]


async def _get_page(provider: Any, url: str,
                    limiter: SlidingLimiter) -> tuple[dict[str, Any], int]:
    """One page, retried after 429s that outlasted kiota's own retries (same URL: no loss)."""
    started = time.monotonic()
    retries = 0
    while True:
        try:
            page = await provider.get_json(url, permission="AuditLog.Read.All",
                                           resource="the audit log")
        except ActionError as exc:
            limiter.settle()
            if exc.kind != ErrorKind.THROTTLED or time.monotonic() - started > THROTTLE_GIVE_UP_S:
                raise
            retries += 1
            limiter.pause(getattr(exc, "retry_after", None) or 10.0)
            await limiter.wait()
        else:
            limiter.settle()
            return page, retries


@register
class AzureActivitySource(TimelineSource):
    name = "azure"
    provider = "azure"
    lookup_model = AzureLookup
    description = "The Azure caller to trace (Activity Log)"
    cloud_name = "Azure"
    place = "subscription"
    permissions = ("Microsoft.Insights/eventtypes/values/read",)

    def describe(self, lookup: AzureLookup) -> str:
        via = " (Log Analytics)" if lookup.via == "log-analytics" else ""
        return f"caller {lookup.caller}{via}"

    def regions(self, provider: Any, requested: list[str], table: dict[str, Any]) -> list[str]:
        return ["global"]

    def place_name(self, provider: Any, lookup: Any, region: str) -> str:
        # The one resolve picks (without its error when there is none: resolve says it).
        sub = lookup.subscription or next(iter(provider.subscriptions), None)
        return f"subscription {sub}" if sub else "the subscription"

    async def resolve(self, provider: Any, lookup: AzureLookup,
                      account: str | None) -> dict[str, Any]:
        return {"caller": lookup.caller, "via": lookup.via,
                "subscription": provider.subscription(lookup.subscription or account)}

    async def pull(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                   account: str | None, since: datetime, until: datetime,
                   progress: Callable[[PullProgress], None] | None,
                   evidence_dir: Path | None) -> PullResult:
        caller, sub = state["caller"], state["subscription"]
        if state.get("via") == "log-analytics":
            from rescind.timeline.loganalytics import activity_queries, pull_workspace

            return await asyncio.to_thread(
                pull_workspace, provider.logs_client(), provider.workspace(),
                activity_queries(caller, sub), since=since, until=until,
                lookup=("caller", caller), progress=threadsafe(progress),
                evidence_dir=evidence_dir)
        expression = (f"eventTimestamp ge '{_iso(since)}' and "
                      f"eventTimestamp le '{_iso(until, up=True)}' and caller eq '{caller}'")
        items = await provider.acall(lambda c: [e.as_dict() for e in c.activity_logs.list(
            filter=expression)], "monitor", sub,
            action="Microsoft.Insights/eventtypes/values/read",
            resource=f"the Activity Log of {sub}")
        # The service may ignore ``caller eq``: keep only the caller's records.
        mine = [r for r in items if str(r.get("caller", "")).lower() == caller.lower()]
        events, bad = _events(mine)
        grouped, _ = group_activity(events)
        grouped.sort(key=lambda e: e.time)
        if progress:
            progress(PullProgress(events=len(grouped), pages=1, regions_done=["global"],
                                  regions_total=1, throttled=0, region="global"))
        paths = _write_pages(evidence_dir, f"azure-activity-{sub}.jsonl", [{"value": mine}])
        return PullResult(events=grouped, pages=1, regions_done=["global"], throttled=0,
                          raw_pages_paths=paths, malformed=bad,
                          lookups=[("caller", caller)])

    async def estimate(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                       since: datetime, until: datetime) -> str | None:
        if state.get("via") != "log-analytics":
            return None
        from rescind.timeline.loganalytics import activity_queries

        return await _workspace_cost(provider, activity_queries(state["caller"],
                                                                state["subscription"]),
                                     since, until)

    def normalise(self, record: dict[str, Any]) -> Event:
        return to_event(record)

    def convert(self, paths: list[Path], limits: Limits = DEFAULT_LIMITS) -> ConvertResult:
        return convert_files(paths, limits)

    def add_arguments(self, group: Any) -> None:
        group.add_argument("--azure-caller", metavar="WHO",
                           help="an Azure Activity Log caller (UPN or object id)")

    def lookup_from_args(self, args: argparse.Namespace) -> AzureLookup | None:
        caller = getattr(args, "azure_caller", None)
        if not caller:
            return None
        return lookup_of(AzureLookup, {"caller": caller, **via_option(args, AzureLookup)},
                         {"caller": ("--azure-caller", "a caller (UPN or object id)")},
                         fix="give --azure-caller WHO, as the Activity Log names it")
