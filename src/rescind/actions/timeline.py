"""``timeline.pull``: what a credential did, from its cloud's audit log, into the incident.

The step's block names the timeline source (``aws: {access_key_id: ...}``); the
source (rescind.timeline.sources) does the cloud's part. This action resolves the
window and regions, writes the raw pages to ``evidence/`` and merges the events
into ``timeline.jsonl``, the same for every source.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from rescind.actions.base import Action, ActionContext, Plan, Result, Risk
from rescind.actions.common import StrList
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.providers.base import table
from rescind.timeline import sources

OUTPUTS = ("events", "new_events", "relevant", "path", "regions", "evidence")


class PullWindow(BaseModel):
    """What every source's pull takes besides the block naming whose history."""

    model_config = ConfigDict(extra="forbid")

    since: str = Field(default="-7d", description="Start: an offset like -7d or -12h, or ISO "
                                                  "8601 (AWS LookupEvents keeps 90 days)")
    until: str = Field(default="now", description="End: `now`, an offset, or ISO 8601")
    regions: StrList = Field(default_factory=list,
                             description="Regions to pull, or [all] (default: the provider's "
                                         "regions setting, else its region)")
    account: str | None = Field(default=None,
                                description="Account to pull in (AWS: needs aws.assume_roles "
                                            "unless it is rescind's own)")

    @model_validator(mode="after")
    def _exactly_one(self) -> PullWindow:
        given = [n for n in sources.names() if getattr(self, n, None) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one source block: " + ", ".join(
                f"{n}: {{...}}" for n in sources.names()))
        return self

    def source(self) -> tuple[sources.TimelineSource, Any]:
        """The one source block given, and its lookup."""
        for name in sources.names():
            lookup = getattr(self, name, None)
            if lookup is not None:
                return sources.require(name), lookup
        raise ValueError("no source block")


@functools.cache
def _params_model(names: tuple[str, ...]) -> type[PullWindow]:
    blocks: dict[str, Any] = {
        name: (sources.require(name).lookup_model | None,
               Field(default=None, description=sources.require(name).description))
        for name in names}
    model: type[PullWindow] = create_model("PullParams", __base__=PullWindow, **blocks)
    return model


class _SourcesModel:
    """``TimelinePull.params_model``: one optional block per registered source, built on
    first use, so a source registered later (a plug-in, a test) is a valid block."""

    def __get__(self, obj: object, owner: type | None = None) -> type[PullWindow]:
        return _params_model(tuple(sources.names()))


@register
class TimelinePull(Action[PullWindow]):
    name = "timeline.pull"
    description = ("Pull the audit-log history of a key, user or role (AWS: CloudTrail "
                   "LookupEvents, every region concurrently) into the incident's timeline "
                   "and evidence")
    params_model = _SourcesModel()
    risk = Risk.LOW
    reversible = False
    mutating = False
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = OUTPUTS
    permissions: ClassVar[tuple[str, ...]] = ("cloudtrail:LookupEvents", "iam:GetRole")

    @classmethod
    def providers_for(cls, params: Mapping[str, Any]) -> tuple[str, ...]:
        found = tuple(s.provider for n in sources.names() if n in params
                      for s in [sources.require(n)])
        return found or cls.providers

    async def plan(self, ctx: ActionContext, params: PullWindow, step_id: str) -> Plan:
        from rescind.timeline.window import parse_when

        source, lookup = params.source()
        provider = ctx.provider(source.provider)
        since, until = parse_when(params.since), parse_when(params.until)
        if since > until:
            raise ActionError(f"the window starts ({params.since}) after it ends "
                              f"({params.until})", retryable=False, fix="swap since and until")
        regions = source.regions(provider, list(params.regions),
                                 table(ctx.settings, source.provider))
        state = await source.resolve(provider, lookup, params.account)
        warnings = ["Audit logs deliver events minutes late: pull again later for the newest"]
        cost = await source.estimate(provider, state, regions=regions, since=since,
                                     until=until)
        if cost:
            warnings.insert(0, cost)
            state["cost"] = cost
        elif source.name == "aws":
            warnings.append("LookupEvents covers the last 90 days of management events in "
                            "each region pulled; older history and data events are in the "
                            "trail's S3 bucket")
        dumped = {k: v for k, v in params.model_dump(mode="json").items()
                  if v is not None or k not in sources.names()}
        return Plan(action=self.name, step_id=step_id, params=dumped,
                    risk=self.risk, reversible=self.reversible, mutating=self.mutating,
                    summary=(f"Pull {source.name} audit log for {source.describe(lookup)} in "
                             f"{', '.join(regions)}, {_iso(since)} to {_iso(until)}"),
                    warnings=warnings,
                    state={"source": source.name, **state, "regions": regions,
                           "since": _iso(since), "until": _iso(until)})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        from rescind.timeline.incident import TIMELINE_FILE, add_events
        from rescind.timeline.pull import PullProgress

        source = sources.require(plan.state.get("source", "aws"))
        regions: list[str] = plan.state["regions"]

        def progress(p: PullProgress) -> None:
            ctx.progress(len(p.regions_done), p.regions_total,
                         f"regions done; {p.events:,} events in {p.pages:,} pages")

        pulled = await source.pull(
            ctx.provider(source.provider), dict(plan.state), regions=regions,
            account=plan.params.get("account"),
            since=datetime.fromisoformat(plan.state["since"]),
            until=datetime.fromisoformat(plan.state["until"]), progress=progress,
            evidence_dir=ctx.incident_dir / "evidence")
        try:
            added = add_events(ctx.incident_dir, pulled.events)
            relevant = sum(e.relevant for e in pulled.events)
        finally:
            pulled.close()  # the spooled events' runs
        path = ctx.incident_dir / TIMELINE_FILE
        evidence = [str(Path(p).relative_to(ctx.incident_dir)) for p in pulled.raw_pages_paths]
        details = [f"{len(pulled.events)} events ({relevant} flagged) in {pulled.pages} pages "
                   f"from {', '.join(regions)}; {added} new in {TIMELINE_FILE}"]
        if pulled.throttled:
            details.append(f"{pulled.throttled} throttled requests were retried")
        if pulled.malformed:
            details.append(f"{pulled.malformed} malformed records were skipped (kept in "
                           "evidence)")
        details.extend(pulled.notes)
        return Result(outputs={"events": len(pulled.events), "new_events": added,
                               "relevant": relevant, "path": str(path), "regions": regions,
                               "evidence": evidence},
                      details=details)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")
