"""Google Cloud's timeline source: Cloud Audit Logs by principal email or key, and their exports.

"Regions" of this source are projects: ``timeline.pull`` reads each project named
by the step (``regions: [example-project]``), else ``gcp.projects``, else the
provider's default project. ``via: bigquery`` reads them from a log sink's dataset
(``gcp.bigquery_dataset``) with one query instead of entries.list per project.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rescind.timeline.convert import DEFAULT_LIMITS, ConvertResult
from rescind.timeline.event import Event
from rescind.timeline.limits import Limits
from rescind.timeline.pull import PullProgress, PullResult, threadsafe
from rescind.timeline.sources import TimelineSource, lookup_of, register, via_option


class GcpLookup(BaseModel):
    """Whose audit log to pull: exactly one of these."""

    model_config = ConfigDict(extra="forbid")

    principal_email: str | None = Field(
        default=None, pattern=r"^[^@\s]+@[^@\s]+$",
        description="Entries by this principal (a service account or user email): "
                    "protoPayload.authenticationInfo.principalEmail")
    key_id: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{40}$",
        description="Entries signed with this service-account key: "
                    "authenticationInfo.serviceAccountKeyName")
    via: Literal["logging", "bigquery"] = Field(
        default="logging", description="logging: Cloud Logging entries.list per project "
        "(60 requests a minute, Logging's retention); bigquery: one query over the dataset "
        "a log sink writes to (gcp.bigquery_dataset), billed per byte scanned")

    @model_validator(mode="after")
    def _one(self) -> GcpLookup:
        if (self.principal_email is None) == (self.key_id is None):
            raise ValueError("give exactly one of principal_email, key_id")
        return self


@register
class GcpAuditSource(TimelineSource):
    name = "gcp"
    provider = "gcp"
    lookup_model = GcpLookup
    description = "The Google Cloud principal or service-account key to trace (Cloud Audit Logs)"
    cloud_name = "Google Cloud"
    place = "project"
    permissions = ("logging.logEntries.list", "logging.privateLogEntries.list")

    def describe(self, lookup: GcpLookup) -> str:
        via = " (BigQuery log sink)" if lookup.via == "bigquery" else ""
        if lookup.key_id:
            return f"service-account key {lookup.key_id}{via}"
        return f"principal {lookup.principal_email}{via}"

    def regions(self, provider: Any, requested: list[str],
                table: dict[str, Any]) -> list[str]:
        if requested == ["all"]:
            requested = []
        return list(dict.fromkeys(requested or table.get("projects") or [provider.project()]))

    async def resolve(self, provider: Any, lookup: GcpLookup,
                      account: str | None) -> dict[str, Any]:
        if lookup.key_id:
            return {"lookup": ["key", lookup.key_id], "via": lookup.via}
        return {"lookup": ["principal", str(lookup.principal_email).lower()], "via": lookup.via}

    async def pull(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                   account: str | None, since: datetime, until: datetime,
                   progress: Callable[[PullProgress], None] | None,
                   evidence_dir: Path | None) -> PullResult:
        from rescind.timeline.gcp_pull import pull_audit_logs

        kind, value = state["lookup"]
        if state.get("via") == "bigquery":
            from rescind.timeline.gcp_bigquery import check_dataset, pull_bigquery

            dataset = check_dataset(provider.bigquery_dataset)
            pulled: PullResult = await provider.run(
                pull_bigquery, provider.bigquery_client(), dataset, (kind, value),
                projects=regions, since=since, until=until, progress=threadsafe(progress),
                evidence_dir=evidence_dir)
            return pulled
        return await pull_audit_logs(provider, projects=regions, lookup=(kind, value),
                                     since=since, until=until, progress=progress,
                                     evidence_dir=evidence_dir)

    async def estimate(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                       since: datetime, until: datetime) -> str | None:
        if state.get("via") != "bigquery":
            return None
        from rescind.providers.gcp_errors import translate_error
        from rescind.timeline.gcp_bigquery import (
            build_query,
            check_dataset,
            describe_cost,
            dry_run_bytes,
        )

        kind, value = state["lookup"]
        sql, params = build_query(check_dataset(provider.bigquery_dataset), (kind, value),
                                  projects=regions, since=since, until=until)
        try:
            scanned = await provider.run(dry_run_bytes, provider.bigquery_client(), sql, params)
        except Exception as exc:
            raise translate_error(exc, permission="bigquery.jobs.create",
                                  resource=f"dataset {provider.bigquery_dataset}") from None
        return describe_cost(scanned)

    def normalise(self, record: dict[str, Any]) -> Event:
        from rescind.timeline.gcp_audit import from_entry

        return from_entry(record)

    def convert(self, paths: list[Path], limits: Limits = DEFAULT_LIMITS) -> ConvertResult:
        from rescind.timeline.gcp_audit import convert_files

        return convert_files(paths, limits)

    def add_arguments(self, group: Any) -> None:
        group.add_argument("--gcp-principal", metavar="EMAIL",
                           help="a Google Cloud principal (service account or user email)")
        group.add_argument("--gcp-key-id", metavar="ID",
                           help="a service-account key id (40 hex digits)")

    def lookup_from_args(self, args: argparse.Namespace) -> GcpLookup | None:
        given = {"principal_email": getattr(args, "gcp_principal", None),
                 "key_id": getattr(args, "gcp_key_id", None)}
        given = {k: v for k, v in given.items() if v}
        if not given:
            return None
        given.update(via_option(args, GcpLookup))
        return lookup_of(GcpLookup, given, {
            "principal_email": ("--gcp-principal", "an email address (NAME@DOMAIN, e.g. "
                                "NAME@PROJECT.iam.gserviceaccount.com)"),
            "key_id": ("--gcp-key-id", "a service-account key id (40 hex digits, lower case)")},
            fix="give --gcp-principal EMAIL or --gcp-key-id with the 40 hex digits `gcloud "
                "iam service-accounts keys list` shows")

