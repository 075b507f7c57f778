"""From ``to: [security, owner]`` to named recipients, at the incident's severity.

A ``to`` entry is a role (a key of ``[notify.routes]``), a recipient's name, or
``owner``: the contact of each account the step names, from ``[notify.accounts]``
or the account metadata files (CSPF 4.1). What cannot be routed is returned, with
the reason, so the plan says so and the runbook's manual fallback step runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rescind.errors import ActionError, UsageError
from rescind.notify.settings import SEVERITIES, Account, Recipient, Route

OWNER = "owner"
_ACCOUNT_KEYS = ("accountid", "account_id", "account", "id", "subscription", "project")


def rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 1


@dataclass(frozen=True)
class Resolved:
    name: str
    recipient: Recipient
    why: str  # "security at high", "owner of 123456789012"


@dataclass
class Routing:
    recipients: list[Resolved] = field(default_factory=list)
    unrouted: list[str] = field(default_factory=list)  # each: who, and why not

    def add(self, found: Resolved) -> None:
        if all(r.name != found.name for r in self.recipients):
            self.recipients.append(found)


def members(route: Route, severity: str) -> list[str] | None:
    """The route's recipients at ``severity``, else at the nearest severity below."""
    for level in reversed(SEVERITIES[:rank(severity) + 1]):
        listed: list[str] | None = getattr(route, level)
        if listed is not None:
            return listed
    return None


def route(to: Iterable[str], *, severity: str, recipients: Mapping[str, Recipient],
          routes: Mapping[str, Route], accounts: Mapping[str, Account],
          account_ids: Iterable[str], email_ready: bool) -> Routing:
    out = Routing()
    ids = [a for a in account_ids if a]

    def named(name: str, why: str) -> None:
        recipient = recipients.get(name)
        if recipient is None:
            raise ActionError(f"[notify] {why} names recipient {name!r}, which is not defined",
                              kind="config", retryable=False,
                              fix=f"add [notify.recipients.{name}] or correct the name")
        out.add(Resolved(name, recipient, why))

    for entry in to:
        if entry == OWNER and ids:
            for account in ids:
                _owner(out, account, accounts.get(account), severity, recipients, email_ready)
        elif entry in routes:
            listed = members(routes[entry], severity)
            if listed is None:
                out.unrouted.append(f"{entry}: its route lists nobody at {severity} or below")
            for name in listed or []:
                named(name, f"{entry} at {severity}")
        elif entry in recipients:
            named(entry, "named in the step")
        elif entry == OWNER:
            out.unrouted.append("owner: the step names no account, and there is no "
                                "[notify.routes.owner]")
        else:
            out.unrouted.append(f"{entry}: no [notify.routes.{entry}] or recipient of that name")
    return out


def _owner(out: Routing, account: str, meta: Account | None, severity: str,
           recipients: Mapping[str, Recipient], email_ready: bool) -> None:
    who = f"owner of {account}"
    if meta is None or not meta.contact:
        out.unrouted.append(f"{who}: no contact in the account metadata (add "
                            f"[notify.accounts.\"{account}\"] contact = ...)")
        return
    if meta.contact in recipients:
        out.add(Resolved(meta.contact, recipients[meta.contact], who))
    elif "@" in meta.contact and email_ready:
        out.add(Resolved(f"owner-{account}", Recipient(channel="email", to=meta.contact), who))
    else:
        out.unrouted.append(f"{who}: {meta.contact} is not a recipient, and email is not "
                            "configured ([notify.email] host)")
    if meta.escalation in recipients and rank(severity) >= rank("high"):
        out.add(Resolved(meta.escalation, recipients[meta.escalation],
                         f"{who}'s escalation at {severity}"))


def load_accounts(paths: Iterable[str]) -> dict[str, Account]:
    """Account metadata from JSON files or folders of them (one object, a list, or JSONL)."""
    found: dict[str, Account] = {}
    for given in paths:
        path = Path(given).expanduser()
        files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
        for file in files:
            for record in _records(file):
                account = next((str(record[k]) for k in _ACCOUNT_KEYS if record.get(k)), None)
                if account is None:
                    raise UsageError(f"{file}: an account record has no accountid",
                                     fix='add "accountid": "123456789012" to each record')
                try:
                    found[account] = Account.model_validate(record)
                except ValidationError as exc:
                    raise UsageError(f"{file}: account {account}: "
                                     f"{exc.errors()[0]['msg']}",
                                     fix="make name, contact, team and escalation text") from None
    return found


def _records(file: Path) -> list[dict[str, Any]]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read account metadata {file}: {exc.strerror}",
                         fix="correct [notify] accounts_file") from None
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise UsageError(f"{file} is not JSON: {exc}",
                             fix="write one JSON object per account (or a list of them)") \
                from None
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(i, dict) for i in items):
        raise UsageError(f"{file}: expected JSON objects, one per account",
                         fix="see docs/notify.md, Account metadata")
    return items
