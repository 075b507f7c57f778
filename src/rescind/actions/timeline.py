"""``timeline.pull``: what the credential did, from CloudTrail, into the incident.

Built on the timeline package's LookupEvents pull (per-region rate limit, throttle
retries, de-duplication); this action resolves the window and regions, writes the
raw pages to ``evidence/`` and merges the events into ``timeline.jsonl``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rescind.actions.aws_common import ACCESS_KEY_PATTERN, aws, iam_name
from rescind.actions.base import Action, ActionContext, Plan, Result, Risk
from rescind.actions.common import StrList, plan_for
from rescind.actions.registry import register
from rescind.errors import ActionError

OUTPUTS = ("events", "new_events", "relevant", "path", "regions", "evidence")


class AwsLookup(BaseModel):
    """Whose CloudTrail history to pull: exactly one of these."""

    model_config = ConfigDict(extra="forbid")

    access_key_id: str | None = Field(default=None, pattern=ACCESS_KEY_PATTERN,
                                      description="Events signed with this access key")
    user: str | None = Field(default=None, description="Events by this IAM user name")
    role_arn: str | None = Field(default=None,
                                 description="Events by sessions of this role (ARN or name): "
                                             "its AssumeRole calls, then every session key")

    @model_validator(mode="after")
    def _one(self) -> AwsLookup:
        if sum(v is not None for v in (self.access_key_id, self.user, self.role_arn)) != 1:
            raise ValueError("give exactly one of access_key_id, user, role_arn")
        return self

    def describe(self) -> str:
        if self.access_key_id:
            return f"access key {self.access_key_id}"
        if self.user:
            return f"user {self.user}"
        return f"role {self.role_arn}"


class PullParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aws: AwsLookup = Field(description="The AWS credential or principal to trace")
    since: str = Field(default="-7d", description="Start: an offset like -7d or -12h, or ISO "
                                                  "8601 (LookupEvents keeps 90 days)")
    until: str = Field(default="now", description="End: `now`, an offset, or ISO 8601")
    regions: StrList = Field(default_factory=list,
                             description="Regions to pull (default: the incident's aws_regions "
                                         "setting, else the provider's region)")
    account: str | None = Field(default=None, pattern=r"^\d{12}$",
                                description="Account to pull in (needs aws_assume_roles unless "
                                            "it is rescind's own)")


@register
class TimelinePull(Action[PullParams]):
    name = "timeline.pull"
    description = ("Pull the CloudTrail history of a key, user or role (LookupEvents, every "
                   "region concurrently) into the incident's timeline and evidence")
    params_model = PullParams
    risk = Risk.LOW
    reversible = False
    mutating = False
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = OUTPUTS
    permissions: ClassVar[tuple[str, ...]] = ("cloudtrail:LookupEvents", "iam:GetRole")

    async def plan(self, ctx: ActionContext, params: PullParams, step_id: str) -> Plan:
        from rescind.timeline.window import parse_when

        provider = aws(ctx)
        since, until = parse_when(params.since), parse_when(params.until)
        regions = list(dict.fromkeys(params.regions or ctx.settings.get("aws_regions")
                                     or [provider.region]))
        if params.aws.role_arn:
            role = params.aws.role_arn
            if not role.startswith("arn:"):
                # LookupEvents finds AssumeRole calls by the role's ARN (with its path).
                reply = await provider.acall("iam", "GetRole", account=params.account,
                                             RoleName=role, resource=f"role {role}")
                role = str(reply["Role"]["Arn"])
            lookup = ("role", role)
        elif params.aws.access_key_id:
            lookup = ("AccessKeyId", params.aws.access_key_id)
        else:
            lookup = ("Username", iam_name(str(params.aws.user), "user"))
        warnings = ["CloudTrail delivers events minutes late: pull again later for the newest",
                    "LookupEvents covers the last 90 days of management events in each region "
                    "pulled; older history and data events are in the trail's S3 bucket"]
        if since > until:
            raise ActionError(f"the window starts ({params.since}) after it ends "
                              f"({params.until})", retryable=False, fix="swap since and until")
        return plan_for(self, params, step_id,
                        summary=(f"Pull CloudTrail for {params.aws.describe()} in "
                                 f"{', '.join(regions)}, {_iso(since)} to {_iso(until)}"),
                        warnings=warnings,
                        state={"lookup": list(lookup), "regions": regions, "since": _iso(since),
                               "until": _iso(until)})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        from rescind.timeline.incident import TIMELINE_FILE, add_events
        from rescind.timeline.pull import PullProgress, pull_cloudtrail, pull_cloudtrail_role

        provider = aws(ctx)
        account = plan.params.get("account")
        regions: list[str] = plan.state["regions"]
        since = datetime.fromisoformat(plan.state["since"])
        until = datetime.fromisoformat(plan.state["until"])
        kind, value = plan.state["lookup"]
        evidence_dir = ctx.incident_dir / "evidence"

        def client_for(region: str) -> Any:
            return provider.client("cloudtrail", region, account)

        def progress(p: PullProgress) -> None:
            ctx.progress(len(p.regions_done), p.regions_total,
                         f"regions done; {p.events:,} events in {p.pages:,} pages")

        if kind == "role":
            pulled = await pull_cloudtrail_role(client_for, regions=regions, role=value,
                                                since=since, until=until, progress=progress,
                                                evidence_dir=evidence_dir)
        else:
            pulled = await pull_cloudtrail(client_for, regions=regions, lookup=(kind, value),
                                           since=since, until=until, progress=progress,
                                           evidence_dir=evidence_dir)
        added = add_events(ctx.incident_dir, pulled.events)
        path = ctx.incident_dir / TIMELINE_FILE
        evidence = [str(Path(p).relative_to(ctx.incident_dir)) for p in pulled.raw_pages_paths]
        relevant = sum(e.relevant for e in pulled.events)
        details = [f"{len(pulled.events)} events ({relevant} flagged) in {pulled.pages} pages "
                   f"from {', '.join(regions)}; {added} new in {TIMELINE_FILE}"]
        if pulled.throttled:
            details.append(f"{pulled.throttled} throttled requests were retried")
        if pulled.malformed:
            details.append(f"{pulled.malformed} malformed records were skipped (kept in "
                           "evidence)")
        return Result(outputs={"events": len(pulled.events), "new_events": added,
                               "relevant": relevant, "path": str(path), "regions": regions,
                               "evidence": evidence},
                      details=details)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")
