"""Find what a Vault credential did, in the file audit device's log.

The accessor's HMAC comes from Vault itself (``sys/audit-hash/<device>``, the same
salt the log was written with), or is given by the responder; AppRole logins are
found by role name. The credential's events join the incident's timeline and the
log lines go to ``evidence/``; the outputs feed the remediation steps (the KV
secrets it read, the leases it was issued).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.base import ActionContext, Plan, Result, Risk
from rescind.actions.common import StrList
from rescind.actions.registry import register
from rescind.actions.vault_common import VaultAction, VaultParams, vault
from rescind.errors import ActionError

OUTPUTS = ("events", "relevant", "kv_secrets", "lease_ids", "lease_prefixes", "paths",
           "source_ips", "skipped", "path", "evidence")


class FindParams(VaultParams):
    accessor: str | None = Field(default=None, description="Token accessor whose events to "
                                 "find (rescind asks Vault for its HMAC)")
    accessor_hmac: str | None = Field(default=None, pattern=r"^hmac-sha256:[0-9a-f]{64}$",
                                      description="The accessor's HMAC, from `vault write "
                                      "sys/audit-hash/DEVICE input=ACCESSOR`")
    role: str | None = Field(default=None, description="AppRole role whose logins' events "
                             "to find")
    audit_logs: StrList = Field(default_factory=list, description="Audit log files (default: "
                                "[vault] audit_logs)")

    @model_validator(mode="after")
    def _some(self) -> FindParams:
        if not (self.accessor or self.accessor_hmac or self.role):
            raise ValueError("give accessor, accessor_hmac or role")
        return self


@register
class FindInAudit(VaultAction):
    name = "vault.audit.find"
    description = ("What a token (by accessor) or an AppRole role did, from Vault's file audit "
                   "log: into the timeline, with the KV secrets read and leases issued")
    params_model = FindParams
    risk = Risk.LOW
    reversible = False
    mutating = False
    outputs: ClassVar[tuple[str, ...]] = OUTPUTS
    permissions: ClassVar[tuple[str, ...]] = ("update sys/audit-hash/*", "sudo sys/audit-hash/*")

    async def plan(self, ctx: ActionContext, params: FindParams, step_id: str) -> Plan:
        provider = vault(ctx)
        logs = [Path(p) for p in params.audit_logs] or provider.audit_logs
        if not logs:
            raise ActionError("no Vault audit log to read", kind="config", retryable=False,
                              fix="copy the file audit device's log here and name it in the "
                                  "step's audit_logs (or [vault] audit_logs)")
        missing = [str(p) for p in logs if not p.is_file()]
        if missing:
            raise ActionError(f"cannot read the audit log {missing[0]}", kind="config",
                              retryable=False, fix="check the path in audit_logs")
        hmacs = [params.accessor_hmac] if params.accessor_hmac else []
        if params.accessor:
            hmacs.append(await provider.run(provider.accessor_hmac, params.accessor))
        who = " and ".join(filter(None, [f"accessor {params.accessor}" if params.accessor else "",
                                         "the accessor HMAC given" if params.accessor_hmac else "",
                                         f"AppRole {params.role}" if params.role else ""]))
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(mode="json"),
                    risk=self.risk, reversible=False, mutating=False,
                    summary=f"Find the events of {who} in {len(logs)} audit log(s)",
                    state={"logs": [str(p) for p in logs], "hmacs": [h for h in hmacs if h],
                           "roles": [params.role] if params.role else []})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        from rescind.timeline.vault_audit import AuditFilter, convert_audit_files, findings

        keep = AuditFilter(set(plan.state["hmacs"]), set(plan.state["roles"]))
        logs = [Path(p) for p in plan.state["logs"]]
        result = await vault(ctx).run(convert_audit_files, logs, keep)
        found = findings(result.events)
        outputs: dict[str, Any] = {"events": len(result.events),
                                   "relevant": sum(e.relevant for e in result.events),
                                   "skipped": len(result.malformed), **found,
                                   "path": "", "evidence": []}
        if (ctx.incident_dir / "journal.jsonl").is_file():
            from rescind.timeline.incident import add_events, write_raw_evidence

            for name, events in result.by_file.items():
                written = write_raw_evidence(ctx.incident_dir, f"vault-audit-{Path(name).name}",
                                             [e.raw for e in events if e.raw is not None])
                outputs["evidence"].append(str(written.relative_to(ctx.incident_dir)))
            add_events(ctx.incident_dir, result.events)
            outputs["path"] = str(ctx.incident_dir / "timeline.jsonl")
        details = [f"{len(result.events)} events of {result.records} audit entries "
                   f"({result.other} of other credentials)",
                   f"KV secrets read: {', '.join(found['kv_secrets']) or 'none'}",
                   f"leases issued: {len(found['lease_ids'])}"]
        details += [f"skipped {bad}" for bad in result.malformed[:20]]
        if len(result.malformed) > 20:
            details.append(f"... and {len(result.malformed) - 20} more unreadable lines")
        return Result(outputs=outputs, details=details)
