"""Vault's timeline source: the file audit device's logs, found by token or AppRole role.

Vault has no API that reads its audit log, so ``pull`` reads the logs named by the
``[vault] audit_logs`` setting (a copy of the audit device's file) and keeps the
credential's entries in the window; ``convert`` reads any logs the responder has.
The "regions" of this source are those log files. A token is found by its
accessor's HMAC, which Vault computes with the log's own salt (``sys/audit-hash``,
a read); ``rescind timeline convert --source vault --vault-accessor-hmac H`` takes
the HMAC directly, for logs read away from Vault.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rescind.errors import ActionError, UsageError
from rescind.providers import vault_redaction  # noqa: F401  (registers Vault's secret names)
from rescind.timeline.convert import DEFAULT_LIMITS, ConvertResult
from rescind.timeline.event import Event
from rescind.timeline.limits import Limits
from rescind.timeline.pull import PullProgress, PullResult
from rescind.timeline.sources import TimelineSource, lookup_of, register
from rescind.timeline.vault_audit import AuditFilter, convert_audit_files, from_audit

HMAC_PATTERN = r"^hmac-sha256:[0-9a-f]{64}$"


class VaultLookup(BaseModel):
    """Whose audit-log entries to keep: a token (by accessor or its HMAC) and/or a role."""

    model_config = ConfigDict(extra="forbid")

    accessor: str | None = Field(default=None, description="The token's accessor (rescind "
                                 "asks Vault for its HMAC)")
    accessor_hmac: str | None = Field(default=None, pattern=HMAC_PATTERN,
                                      description="The accessor's HMAC, from `vault write "
                                                  "sys/audit-hash/DEVICE input=ACCESSOR`")
    role: str | None = Field(default=None, description="An AppRole role: its logins' entries")

    @model_validator(mode="after")
    def _some(self) -> VaultLookup:
        if not (self.accessor or self.accessor_hmac or self.role):
            raise ValueError("give accessor, accessor_hmac or role")
        return self


@register
class VaultAuditSource(TimelineSource):
    name = "vault"
    provider = "vault"
    lookup_model = VaultLookup
    description = "The Vault token or AppRole role to trace (file audit device logs)"
    cloud_name = "Vault"
    place = "audit log"
    permissions = ("update sys/audit-hash/*", "sudo sys/audit-hash/*")

    def describe(self, lookup: VaultLookup) -> str:
        return " and ".join(filter(None, [
            f"accessor {lookup.accessor}" if lookup.accessor else "",
            "the accessor HMAC given" if lookup.accessor_hmac else "",
            f"AppRole {lookup.role}" if lookup.role else ""]))

    def regions(self, provider: Any, requested: list[str],
                table: dict[str, Any]) -> list[str]:
        logs = [str(p) for p in provider.audit_logs]
        if requested and requested != ["all"]:
            logs = requested
        if not logs:
            raise ActionError("no Vault audit log to read", kind="config", retryable=False,
                              fix="copy the file audit device's log here and name it in "
                                  "[vault] audit_logs (or the step's regions)")
        missing = [p for p in logs if not Path(p).is_file()]
        if missing:
            raise ActionError(f"cannot read the audit log {missing[0]}", kind="config",
                              retryable=False, fix="check the path in [vault] audit_logs")
        return logs

    def place_name(self, provider: Any, lookup: Any, region: str) -> str:
        # The simulated Vault's log is a temporary file: its path tells nothing.
        return "the simulated Vault's audit log" if provider.simulated else region

    async def resolve(self, provider: Any, lookup: VaultLookup,
                      account: str | None) -> dict[str, Any]:
        hmacs = [lookup.accessor_hmac] if lookup.accessor_hmac else []
        if lookup.accessor:
            hmacs.append(await provider.run(provider.accessor_hmac, lookup.accessor))
        return {"hmacs": [h for h in hmacs if h], "roles": [lookup.role] if lookup.role else []}

    async def pull(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                   account: str | None, since: datetime, until: datetime,
                   progress: Callable[[PullProgress], None] | None,
                   evidence_dir: Path | None) -> PullResult:
        keep = AuditFilter(set(state.get("hmacs", [])), set(state.get("roles", [])))
        result = await provider.run(convert_audit_files, [Path(p) for p in regions], keep)
        events = [e for e in result.events if since <= e.time <= until]
        paths: list[Path] = []
        if evidence_dir is not None:
            from rescind.timeline.incident import write_raw_evidence

            # evidence_dir is the incident's evidence/, where write_raw_evidence names files.
            for name, found in result.by_file.items():
                records = [e.raw for e in found if e.raw is not None and since <= e.time <= until]
                paths.append(write_raw_evidence(evidence_dir.parent,
                                                f"vault-audit-{Path(name).name}.jsonl", records))
        if progress is not None:
            progress(PullProgress(events=len(events), pages=len(regions), regions_done=regions,
                                  regions_total=len(regions), throttled=provider.throttled))
        return PullResult(events=events, pages=len(regions), regions_done=regions,
                          throttled=provider.throttled, raw_pages_paths=paths,
                          malformed=len(result.malformed))

    def normalise(self, record: dict[str, Any]) -> Event:
        return from_audit(record)

    def convert(self, paths: list[Path], limits: Limits = DEFAULT_LIMITS) -> ConvertResult:
        return convert_audit_files(paths, limits=limits)

    def add_arguments(self, group: Any) -> None:
        group.add_argument("--vault-accessor", metavar="ACCESSOR",
                           help="a Vault token's accessor (in [vault] audit_logs)")
        group.add_argument("--vault-role", metavar="NAME",
                           help="a Vault AppRole role: its logins' entries")

    def lookup_from_args(self, args: argparse.Namespace) -> VaultLookup | None:
        given = {"accessor": getattr(args, "vault_accessor", None),
                 "role": getattr(args, "vault_role", None)}
        given = {k: v for k, v in given.items() if v}
        if not given:
            return None
        return lookup_of(VaultLookup, given, {
            "accessor": ("--vault-accessor", "a token accessor"),
            "role": ("--vault-role", "an AppRole role name")},
            fix="give --vault-accessor ACCESSOR (`vault token lookup` shows it) or "
                "--vault-role NAME")

    def add_convert_arguments(self, group: Any) -> None:
        group.add_argument("--vault-accessor-hmac", action="append", default=[],
                           metavar="HMAC",
                           help="with --source vault: keep the events of the token whose "
                                "accessor has this HMAC (`vault write sys/audit-hash/file "
                                "input=ACCESSOR`)")

    def convert_from_args(self, paths: list[Path], limits: Limits,
                          args: argparse.Namespace) -> ConvertResult:
        hmacs = set(getattr(args, "vault_accessor_hmac", None) or [])
        bad = sorted(h for h in hmacs if not re.match(HMAC_PATTERN, h))
        if bad:
            raise UsageError(f"--vault-accessor-hmac {bad[0]!r} is not an accessor's HMAC",
                             fix="give hmac-sha256:<64 hex digits>, as `vault write "
                                 "sys/audit-hash/file input=ACCESSOR` prints it")
        return convert_audit_files(paths, AuditFilter(hmacs) if hmacs else None, limits)
