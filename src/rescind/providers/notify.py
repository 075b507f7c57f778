"""Notify: the channels a message can go out on, as one provider with one dry-run guard.

Registered as ``notify``: its table is ``[notify]`` (rescind.notify.settings). It
holds the routing (recipients, routes, account owners), reads channel secrets from
the keyring or environment when a message needs them, and owns the one transport
every delivery goes through: live, captured (exercise) or guarded (dry-run).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rescind.errors import UsageError
from rescind.modes import Mode
from rescind.notify.channels import Delivery
from rescind.notify.routing import Routing, load_accounts, route
from rescind.notify.secrets import env_var, read_secret
from rescind.notify.settings import Account, NotifySettings, Recipient, Route
from rescind.notify.transport import Capture, CaptureSink, Guarded, Live, Receipt, Transport
from rescind.providers import registry as providers
from rescind.providers.base import BlockedCall, ProviderBase, Sandbox

_ARN_ACCOUNT = re.compile(r"^arn:[^:]+:[^:]*:[^:]*:(\d{12}):")
_SUBSCRIPTION = re.compile(r"/subscriptions/([0-9a-fA-F-]{36})")
_PROJECT = re.compile(r"(?:^|/)projects/([a-z][a-z0-9-]{4,28}[a-z0-9])(?:/|$)")
# Exercise mode never reads a real secret: these stand in, and nothing leaves the process.
_PLACEHOLDER = {"slack": "https://capture.invalid/slack", "teams": "https://capture.invalid/teams",
                "pagerduty": "exercise-routing-key", "webhook": "exercise-hmac-key",
                "jira": "exercise-token", "email": ""}


def account_of(value: str) -> str:
    """The account, subscription or project a value names (an ARN, a resource id) or itself."""
    for pattern in (_ARN_ACCOUNT, _SUBSCRIPTION, _PROJECT):
        m = pattern.search(value)
        if m:
            return m.group(1)
    return value.strip()


@providers.register("notify")
class NotifyProvider(ProviderBase):
    """Routing, secrets and the transport of one incident's notifications."""

    Settings = NotifySettings

    def __init__(self, settings: NotifySettings, transport: Transport,
                 accounts: dict[str, Account]) -> None:
        self.settings = settings
        self.transport = transport
        self.accounts = accounts
        scenario = settings.scenario
        # A tabletop scenario's recipients fill in for names the config does not define.
        self.recipients: dict[str, Recipient] = {
            **(scenario.recipients if scenario else {}), **settings.recipients}
        self.routes: dict[str, Route] = {**(scenario.routes if scenario else {}),
                                         **settings.routes}
        if scenario:
            self.accounts = {**scenario.accounts, **accounts}
        self._guard: Guarded | None = None
        self._secrets: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: NotifySettings, mode: Mode, *,
                      incident_id: str | None = None) -> NotifyProvider:
        accounts = {**load_accounts(settings.accounts_file), **settings.accounts}
        if mode is Mode.EXERCISE:
            if not settings.capture:
                raise UsageError("exercise mode delivers messages to the capture sink only",
                                 fix="let rescind start it (rescind run --mode exercise)")
            return cls(settings, Capture(CaptureSink()), accounts)
        if settings.capture:
            raise UsageError(f"notify.capture is for exercise mode, not {mode.value}",
                             fix="remove capture from [notify]")
        return cls(settings, Live(retries=settings.retries, backoff=settings.backoff,
                                  timeout=settings.timeout), accounts)

    @classmethod
    def start_sandbox(cls, scenario: Path | None) -> Sandbox:
        from rescind.sandbox.notify import CaptureSandbox

        return CaptureSandbox(scenario)

    # -- the contract ----------------------------------------------------------------
    def identities(self) -> list[tuple[str, str]]:
        """Per recipient, where it goes and whether its secret is present (never its value)."""
        found = []
        for name, r in sorted(self.recipients.items()):
            where = f"{r.channel} {r.to}".strip()
            secret = self._secret_name(r)
            if self.capturing:
                where += " (exercise: captured, no secret read)"
            elif secret:
                read_secret(secret, recipient=name)  # raises, naming the fix, when missing
                where += f" (secret {secret} present)"
            found.append((f"recipient {name}", where))
        return found

    @property
    def guarded(self) -> bool:
        return self._guard is not None

    def install_dry_run_guard(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        if self._guard is None:
            self._guard = Guarded(on_blocked)
            self.transport = self._guard

    def close(self) -> None:
        """Nothing held open: each live delivery opens and closes its own connection."""

    # -- what actions use ---------------------------------------------------------------
    @property
    def capturing(self) -> bool:
        return isinstance(self.transport, Capture)

    @property
    def captured(self) -> list[Any]:
        return list(self.transport.sink.messages) if isinstance(self.transport, Capture) else []

    def route(self, to: Iterable[str], severity: str, accounts: Iterable[str]) -> Routing:
        email_ready = bool(self.settings.email.host) or self.capturing
        return route(to, severity=severity, recipients=self.recipients, routes=self.routes,
                     accounts=self.accounts, account_ids=[account_of(a) for a in accounts],
                     email_ready=email_ready)

    def _secret_name(self, r: Recipient) -> str | None:
        if r.channel == "jira":
            return self.settings.jira.token_secret
        if r.channel == "email":
            return self.settings.email.password_secret if self.settings.email.username else None
        return r.secret

    def secret_for(self, name: str, r: Recipient) -> str | None:
        """The recipient's secret: a placeholder in exercise mode, never a real one."""
        if self.capturing:
            if r.channel == "slack" and r.to:
                return "xoxb-exercise"
            return _PLACEHOLDER[r.channel]
        secret = self._secret_name(r)
        if not secret:
            return None
        if secret not in self._secrets:
            self._secrets[secret] = read_secret(secret, recipient=name)
        return self._secrets[secret]

    def channel_settings(self) -> NotifySettings:
        """Settings the channels build from; exercise fills what a tabletop lacks."""
        if not self.capturing:
            return self.settings
        s = self.settings
        return s.model_copy(update={
            "email": s.email.model_copy(update={"host": s.email.host or "capture.invalid"}),
            "jira": s.jira.model_copy(update={"url": s.jira.url or "https://capture.invalid",
                                              "user": s.jira.user or "exercise"})})

    def secret_values(self) -> list[str]:
        """Every secret value read so far, for the refusal to put one in a message."""
        return [v for v in self._secrets.values() if v]

    async def deliver(self, delivery: Delivery) -> Receipt:
        return await self.transport.deliver(delivery)


__all__ = ["NotifyProvider", "account_of", "env_var"]
