"""AWS's timeline source: CloudTrail LookupEvents, CloudTrail files, CloudTrail records."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rescind.errors import ActionError, RescindError, UsageError
from rescind.providers.aws_names import ACCESS_KEY_PATTERN, iam_name
from rescind.timeline.convert import DEFAULT_LIMITS, ConvertResult, Part
from rescind.timeline.event import Event
from rescind.timeline.limits import Limits
from rescind.timeline.pull import PullProgress, PullResult, threadsafe
from rescind.timeline.sources import TimelineSource, lookup_of, register, via_option


class AwsLookup(BaseModel):
    """Whose CloudTrail history to pull: exactly one of these."""

    model_config = ConfigDict(extra="forbid")

    access_key_id: str | None = Field(default=None, pattern=ACCESS_KEY_PATTERN,
                                      description="Events signed with this access key")
    user: str | None = Field(default=None, description="Events by this IAM user name")
    role_arn: str | None = Field(default=None,
                                 description="Events by sessions of this role (ARN or name): "
                                             "its AssumeRole calls, then every session key")
    via: Literal["lookup", "athena", "cloudtrail-lake"] = Field(
        default="lookup", description="lookup: CloudTrail LookupEvents, per account and "
        "region; athena: one query over the organisation trail in S3 (aws.trail_location); "
        "cloudtrail-lake: one query on an event data store (aws.event_data_store)")

    @model_validator(mode="after")
    def _one(self) -> AwsLookup:
        if sum(v is not None for v in (self.access_key_id, self.user, self.role_arn)) != 1:
            raise ValueError("give exactly one of access_key_id, user, role_arn")
        return self


@register
class CloudTrailSource(TimelineSource):
    name = "aws"
    provider = "aws"
    lookup_model = AwsLookup
    description = "The AWS credential or principal to trace (CloudTrail)"
    cloud_name = "AWS"
    permissions = ("cloudtrail:LookupEvents", "iam:GetRole", "ec2:DescribeRegions")
    reads_parts = True  # a JSONL line is a record, or a document of records, alone

    def describe(self, lookup: AwsLookup) -> str:
        via = {"athena": " (Athena, organisation trail)",
               "cloudtrail-lake": " (CloudTrail Lake)"}.get(lookup.via, "")
        if lookup.access_key_id:
            return f"access key {lookup.access_key_id}{via}"
        if lookup.user:
            return f"user {lookup.user}{via}"
        return f"role {lookup.role_arn}{via}"

    def regions(self, provider: Any, requested: list[str],
                table: dict[str, Any]) -> list[str]:
        if requested == ["all"]:
            return _enabled_regions(provider)
        return list(dict.fromkeys(requested or table.get("regions") or [provider.region]))

    def default_places_note(self, places: list[str], requested: list[str],
                            table: dict[str, Any]) -> str | None:
        if requested or table.get("regions"):
            return None
        return f"only {', '.join(places)}; pass --regions all to search every enabled region"

    async def resolve(self, provider: Any, lookup: AwsLookup,
                      account: str | None) -> dict[str, Any]:
        if account is not None and not (account.isdigit() and len(account) == 12):
            raise ActionError(f"account {account!r} is not a 12-digit AWS account id",
                              retryable=False, fix="give the account id, e.g. 123456789012")
        if lookup.via == "athena":
            return await _resolve_athena(provider, lookup, account)
        if lookup.via == "cloudtrail-lake":
            return _resolve_lake(provider, lookup)
        if lookup.role_arn:
            role = lookup.role_arn
            if not role.startswith("arn:"):
                # LookupEvents finds AssumeRole calls by the role's ARN (with its path).
                reply = await provider.acall("iam", "GetRole", account=account,
                                             RoleName=role, resource=f"role {role}")
                role = str(reply["Role"]["Arn"])
            return {"lookup": ["role", role]}
        if lookup.access_key_id:
            return {"lookup": ["AccessKeyId", lookup.access_key_id]}
        return {"lookup": ["Username", iam_name(str(lookup.user), "user")]}

    async def pull(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                   account: str | None, since: datetime, until: datetime,
                   progress: Callable[[PullProgress], None] | None,
                   evidence_dir: Path | None) -> PullResult:
        from rescind.timeline.pull import pull_cloudtrail, pull_cloudtrail_role

        kind, value = state["lookup"]
        if state.get("via") == "athena":
            return await _pull_athena(provider, state, regions=regions, since=since,
                                      until=until, progress=progress,
                                      evidence_dir=evidence_dir)
        if state.get("via") == "cloudtrail-lake":
            return await _pull_lake(provider, state, regions=regions, account=account,
                                    since=since, until=until, progress=progress,
                                    evidence_dir=evidence_dir)

        def client_for(region: str) -> Any:
            return provider.client("cloudtrail", region, account)

        if kind == "role":
            return await pull_cloudtrail_role(client_for, regions=regions, role=value,
                                              since=since, until=until, progress=progress,
                                              evidence_dir=evidence_dir)
        return await pull_cloudtrail(client_for, regions=regions, lookup=(kind, value),
                                     since=since, until=until, progress=progress,
                                     evidence_dir=evidence_dir)

    async def estimate(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                       since: datetime, until: datetime) -> str | None:
        if state.get("via") == "cloudtrail-lake":
            from rescind.timeline.lake import BILLING

            return BILLING  # no estimate before the query runs; the bytes after it
        if state.get("via") != "athena":
            return None
        from rescind.timeline.athena import Trail, estimate

        trail = Trail.from_settings(provider.athena)
        s3 = provider.client("s3", provider.region)
        found = await provider.run(estimate, s3, trail, accounts=state["accounts"],
                                   regions=regions, since=since, until=until)
        return str(found.describe())

    def normalise(self, record: dict[str, Any]) -> Event:
        from rescind.timeline.cloudtrail import (
            from_lookup_event,
            from_record,
            looks_like_lookup_event,
        )

        return from_lookup_event(record) if looks_like_lookup_event(record) \
            else from_record(record)

    def convert(self, paths: list[Path], limits: Limits = DEFAULT_LIMITS) -> ConvertResult:
        from rescind.timeline.convert import convert_files

        return convert_files(paths, limits)

    def stream_from_args(self, paths: list[Path], limits: Limits, args: argparse.Namespace,
                         counts: ConvertResult) -> Iterator[tuple[str, Event, bool]]:
        from rescind.timeline.convert import iter_events

        return iter_events(paths, limits, counts)

    def stream_parts(self, parts: list[Path | Part], limits: Limits,
                     counts: ConvertResult) -> Iterator[tuple[str, Event, bool]]:
        from rescind.timeline.convert import iter_events

        return iter_events(parts, limits, counts)

    def add_arguments(self, group: Any) -> None:
        group.add_argument("--aws-access-key-id", metavar="ID",
                           help="an access key (AKIA.../ASIA...)")
        group.add_argument("--aws-user", metavar="NAME", help="an IAM user name (or root)")
        group.add_argument("--aws-role", metavar="ARN",
                           help="a role: its AssumeRole calls, then everything its sessions did")

    def add_pull_arguments(self, parser: Any) -> None:
        # One --via for every source: each checks the engines it knows in its lookup.
        parser.add_argument("--via", metavar="ENGINE",
                            help="where to query: AWS lookup (LookupEvents, default), athena "
                                 "(the organisation trail; aws.trail_location) or "
                                 "cloudtrail-lake (aws.event_data_store); Entra/Azure "
                                 "log-analytics; "
                                 "Google Cloud bigquery (a log sink's dataset)")

    def lookup_from_args(self, args: argparse.Namespace) -> AwsLookup | None:
        given = {"access_key_id": getattr(args, "aws_access_key_id", None),
                 "user": getattr(args, "aws_user", None),
                 "role_arn": getattr(args, "aws_role", None)}
        given = {k: v for k, v in given.items() if v}
        if not given:
            return None
        given.update(via_option(args, AwsLookup))
        key = str(given.get("access_key_id", ""))
        fix = (f"key ids are in capitals: --aws-access-key-id {key.upper()}"
               if re.match(ACCESS_KEY_PATTERN, key.upper()) else
               "give the key's id (not its secret), as the alert or `aws iam "
               "list-access-keys` shows it, e.g. AKIAIOSFODNN7EXAMPLE")
        return lookup_of(AwsLookup, given, {"access_key_id": (
            "--aws-access-key-id",
            "an access key id (AKIA or ASIA and 16 capitals or digits)")}, fix=fix)

    def settings_from_args(self, args: argparse.Namespace) -> dict[str, Any]:
        url = getattr(args, "endpoint_url", None)
        if url:
            return {"cloudtrail_endpoint_url": url}
        return {}


async def _resolve_athena(provider: Any, lookup: AwsLookup,
                          account: str | None) -> dict[str, Any]:
    """The column to match and the accounts to read (given, else every trail folder)."""
    from rescind.timeline.athena import Trail, trail_accounts

    trail = Trail.from_settings(provider.athena)
    where = _query_column(lookup)
    if account is not None:
        accounts = [account]
    else:
        s3 = provider.client("s3", provider.region)
        accounts = await provider.run(trail_accounts, s3, trail)
        if not accounts:
            raise ActionError(f"no account folders under s3://{trail.bucket}/{trail.logs}",
                              retryable=False,
                              fix="check aws.trail_location and aws.org_id name the "
                                  "organisation trail's bucket and id")
    return {"via": "athena", "lookup": where, "accounts": accounts}


def _resolve_lake(provider: Any, lookup: AwsLookup) -> dict[str, Any]:
    """The field to match; the store and every value are checked before any query."""
    from rescind.timeline.lake import event_data_store_id

    if not provider.event_data_store:
        raise UsageError("CloudTrail Lake needs an event data store",
                         fix="set aws.event_data_store = \"arn:aws:cloudtrail:REGION:ACCOUNT:"
                             "eventdatastore/ID\" in rescind.toml (docs/scale.md)")
    event_data_store_id(provider.event_data_store)
    return {"via": "cloudtrail-lake", "lookup": _query_column(lookup)}


def _query_column(lookup: AwsLookup) -> list[str]:
    """What a query engine (Athena, CloudTrail Lake) matches: a role's name finds its
    sessions in every account, an ARN in its own; else the key or the user."""
    if lookup.role_arn:
        role = lookup.role_arn
        return ["role", role] if role.startswith("arn:") else ["role_name", role]
    if lookup.access_key_id:
        return ["AccessKeyId", lookup.access_key_id]
    return ["Username", iam_name(str(lookup.user), "user")]


async def _pull_lake(provider: Any, state: dict[str, Any], *, regions: list[str],
                     account: str | None, since: datetime, until: datetime,
                     progress: Callable[[PullProgress], None] | None,
                     evidence_dir: Path | None) -> PullResult:
    from rescind.timeline.lake import pull_lake

    # The store's home region answers its queries; the queried account's events are in
    # it (an organisation store holds every member's), so the client is the caller's.
    store = str(provider.event_data_store)
    region = store.split(":")[3] if store.startswith("arn:") else provider.region
    cloudtrail = provider.client("cloudtrail", region)
    kind, value = state["lookup"]
    try:
        result: PullResult = await provider.run(
            pull_lake, cloudtrail, store, (kind, value), regions=regions, since=since,
            until=until, account=account, progress=threadsafe(progress),
            evidence_dir=evidence_dir)
    except RescindError:
        raise
    except Exception as exc:  # a missing store or permission: one message with its fix
        raise provider.translate_error(exc, action="cloudtrail:StartQuery",
                                       resource=store) from None
    return result


async def _pull_athena(provider: Any, state: dict[str, Any], *, regions: list[str],
                       since: datetime, until: datetime,
                       progress: Callable[[PullProgress], None] | None,
                       evidence_dir: Path | None) -> PullResult:
    from rescind.timeline.athena import Trail, pull_athena

    trail = Trail.from_settings(provider.athena)
    athena = provider.client("athena", provider.region)
    report = threadsafe(progress)
    kind, value = state["lookup"]
    result: PullResult = await provider.run(pull_athena, athena, trail, (kind, value),
                              accounts=list(state["accounts"]), regions=regions,
                              since=since, until=until, progress=report,
                              evidence_dir=evidence_dir)
    return result


def _enabled_regions(provider: Any) -> list[str]:
    try:
        answer = provider.call("ec2", "DescribeRegions")
    except ActionError as exc:
        raise UsageError(f"cannot list the account's regions: {exc.message}",
                         fix="name them with --regions us-east-1,eu-west-1") from None
    return sorted(r["RegionName"] for r in answer.get("Regions", []))
