"""Notify and escalate: ``notify.send`` and ``incident.set_severity``.

``notify.send`` routes ``to:`` (roles, recipient names, ``owner``) at the incident's
current severity, renders one message carrying the incident id and the latest
ANCHOR line, refuses it at plan time if it holds a secret, and delivers it through
the notify provider's transport (live, captured in exercise, blocked in dry-run).
Each delivery is journaled with its receipt. See docs/notify.md.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from rescind.actions.base import Action, ActionContext, Change, Plan, Result, Risk, Verification
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.notify import outbox, record
from rescind.notify.channels import build
from rescind.notify.message import Message, credential_in, default_subject
from rescind.notify.routing import OWNER, rank
from rescind.notify.settings import Recipient
from rescind.settings.types import CommaList

Page = Literal["trigger", "acknowledge", "resolve"]


class SendParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: CommaList = Field(min_length=1, description="Roles (security, owner, vendor...) or "
                          "recipient names from [notify]")
    message: str = Field(min_length=1, description="The text; ${{ }} references are filled in")
    subject: str | None = Field(default=None, description="Email subject, ticket summary and "
                                "page summary (default: severity, incident and first line)")
    accounts: CommaList = Field(default_factory=list, description="Accounts, subscriptions "
                                "or projects (ids or ARNs) whose owner `owner` means")
    page: Page = Field(default="trigger", description="PagerDuty event: trigger, acknowledge "
                       "or resolve")
    attach_report: bool = Field(default=False, description="Attach report.md as it stands "
                                "to the Jira ticket")


def _refuse_secrets(ctx: ActionContext, provider: Any, *texts: str) -> None:
    for text in texts:
        if ctx.holds_secret(text) or credential_in(text) or any(
                v in text for v in provider.secret_values()):
            raise ActionError(
                "the message holds a secret value; secrets never go out by chat, email or "
                "ticket (CSPF 3.3)", kind="refused", retryable=False,
                fix="remove the reference to the secret from the step's message or subject")


def _report(ctx: ActionContext, entries: list[Any]) -> bytes:
    """report.md as the journal stands now (the sealed one is written at close)."""
    from rescind.record.checkpoint import anchors_in
    from rescind.record.report import render_report

    opened = next((e for e in entries if e.kind == "incident.open"), None)
    responder = opened.data.get("responder", {}) if opened else {}
    email = str(responder.get("email", "")) if isinstance(responder, dict) else ""
    anchors = anchors_in(ctx.incident_dir, entries, ctx.incident_dir.name)
    return render_report(ctx.incident_dir, entries, signer_email=email,
                         anchors=anchors).encode()


@register
class SendMessage(Action[SendParams]):
    name = "notify.send"
    description = ("Tell people: route roles to recipients by severity and account owner, "
                   "and send one message with the incident id and latest ANCHOR line")
    params_model = SendParams
    risk = Risk.MEDIUM
    reversible = False  # a message cannot be unsent
    mutating = True
    providers = ("notify",)
    outputs = ("sent", "receipts", "recipients", "unrouted")
    permissions: ClassVar[tuple[str, ...]] = (
        "slack:chat:write", "slack:incoming-webhook", "teams:workflow-webhook",
        "pagerduty:events-v2", "smtp:send", "jira:create-issues", "jira:add-comments",
        "jira:create-attachments", "webhook:post")

    async def plan(self, ctx: ActionContext, params: SendParams, step_id: str) -> Plan:
        provider = ctx.provider("notify")
        entries = record.entries_of(ctx.incident_dir)
        facts = record.facts(ctx.incident_dir, entries)
        routing = provider.route(params.to, facts.severity, params.accounts)
        subject = params.subject or default_subject(facts.incident, facts.severity,
                                                    params.message)
        escalation = ""
        if OWNER in params.to:
            from rescind.providers.notify import account_of

            links = [provider.accounts[a].escalation for a in map(account_of, params.accounts)
                     if a in provider.accounts and provider.accounts[a].escalation
                     and provider.accounts[a].escalation not in provider.recipients]
            escalation = ", ".join(dict.fromkeys(links))
        message = Message(facts.incident, facts.severity, subject, params.message, facts.anchor,
                          escalation)
        _refuse_secrets(ctx, provider, params.message, subject)
        settings = provider.channel_settings()
        changes, chosen = [], []
        for found in routing.recipients:
            # Built now so a missing secret or setting fails the plan, not the send.
            delivery = build(found.name, found.recipient, message, settings,
                             secret=provider.secret_for(found.name, found.recipient),
                             page=params.page)
            changes.append(Change(target=found.name, field=f"{delivery.channel} to "
                                  f"{delivery.target} ({found.why})", after=delivery.text))
            chosen.append({"name": found.name, "why": found.why,
                           "recipient": found.recipient.model_dump(mode="json")})
        warnings = [f"not notified: {u}" for u in routing.unrouted]
        names = [c["name"] for c in chosen]
        summary = (f"send {len(names)} message{'s' if len(names) != 1 else ''} "
                   f"(severity {facts.severity}): {', '.join(names)}" if names
                   else "nobody to send to: no channel is configured for " + ", ".join(params.to))
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(mode="json"),
                    targets=names, changes=changes, warnings=warnings,
                    risk=Risk.MEDIUM if names else Risk.LOW, reversible=False,
                    mutating=bool(names), summary=summary,
                    state={"message": {"incident": message.incident,
                                       "severity": message.severity,
                                       "subject": message.subject, "text": message.text,
                                       "anchor": message.anchor,
                                       "escalation": message.escalation},
                           "recipients": chosen},
                    outputs={"recipients": names, "unrouted": routing.unrouted})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = ctx.provider("notify")
        params = SendParams.model_validate(plan.params)
        message = Message(**plan.state["message"])
        entries = record.entries_of(ctx.incident_dir)
        threads = record.threads(entries)
        done = record.delivered(entries, plan.step_id)
        report = _report(ctx, entries) if params.attach_report else None
        settings = provider.channel_settings()
        receipts: dict[str, str] = {}
        for chosen in plan.state["recipients"]:
            name = chosen["name"]
            if name in done:  # a retry after a partial failure sends no duplicates
                receipts[name] = done[name]
                continue
            recipient = Recipient.model_validate(chosen["recipient"])
            delivery = build(name, recipient, message, settings,
                             secret=provider.secret_for(name, recipient),
                             thread=threads.get(name), page=params.page,
                             attach=report if recipient.channel == "jira" else None)
            try:
                entry = await outbox.send(provider, delivery, recipient, ctx.journal)
            except ActionError as exc:
                # Journaled so the Messages pane lists it; the step fails as before.
                ctx.notice("message", outbox.failed(delivery.shown(), delivery.text, exc,
                                                    ctx.journal))
                raise
            ctx.notice("message", entry)
            receipts[name] = entry["receipt"]
        sent = sum(1 for r in receipts.values() if r) if not provider.guarded else 0
        return Result(outputs={"sent": sent, "receipts": receipts},
                      details=[f"{n}: {r or 'would send'}" for n, r in receipts.items()])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        done = record.delivered(record.entries_of(ctx.incident_dir), plan.step_id)
        missing = [n for n in plan.targets if n not in done]
        if missing:
            return Verification(ok=False, detail="no receipt for " + ", ".join(missing))
        return Verification(ok=True, detail=f"{len(done)} receipt(s) journaled")


class SeverityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: Literal["low", "medium", "high", "critical"]
    reason: str = Field(min_length=1, description="Why, as the record shows it")


@register
class SetSeverity(Action[SeverityParams]):
    name = "incident.set_severity"
    description = "Raise the incident's severity (routes follow it); journaled"
    params_model = SeverityParams
    risk = Risk.LOW
    reversible = False
    mutating = False  # changes the record only, never a cloud
    providers = ()
    outputs = ("severity", "previous")
    permissions: ClassVar[tuple[str, ...]] = ("none: the incident record only",)

    async def plan(self, ctx: ActionContext, params: SeverityParams, step_id: str) -> Plan:
        current = record.severity(record.entries_of(ctx.incident_dir))
        if rank(params.severity) < rank(current):
            raise ActionError(f"severity is {current}; a step can raise it, not lower it to "
                              f"{params.severity}", kind="refused", retryable=False,
                              fix="lower it by hand in the ticket, or drop the step")
        changes = [] if params.severity == current else [
            Change(target="incident", field="severity", before=current, after=params.severity)]
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(mode="json"),
                    changes=changes, risk=Risk.LOW, reversible=False, mutating=False,
                    summary=f"severity {current} -> {params.severity}: {params.reason}",
                    state={"previous": current},
                    outputs={"severity": params.severity, "previous": current})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        previous, wanted = plan.state["previous"], plan.params["severity"]
        if wanted != previous:
            ctx.journal(record.SEVERITY, {"severity": wanted, "previous": previous,
                                          "reason": plan.params["reason"]})
        return Result(outputs={"severity": wanted, "previous": previous})

