"""Guardrails every Google Cloud revocation goes through, in one place.

rescind never disables, unbinds or removes keys of the identity it runs as (the
service account of its key file, the account it impersonates, or the account it
impersonates *from*), never the key it signs with, never a configured break-glass
principal, and acts on more than ``TARGET_CAP`` targets in one step only when the
step raises ``max_targets`` explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rescind.errors import ActionError, ErrorKind

TARGET_CAP = 20  # the same cap as every provider's (docs/architecture.md, "Guardrails")


@dataclass(frozen=True)
class CallerIdentity:
    """Who rescind is in Google Cloud."""

    email: str
    key_id: str | None = None  # the service-account key it signs with, if any
    # Identities behind it: the source credential of an impersonation.
    also: tuple[str, ...] = field(default_factory=tuple)

    def emails(self) -> list[str]:
        return [e.lower() for e in (self.email, *self.also) if e]


def member_email(member: str) -> str:
    """``serviceAccount:x@p.iam.gserviceaccount.com`` (or a bare email) → the email, lower."""
    _, _, rest = member.rpartition(":") if member.count(":") == 1 else ("", "", member)
    return rest.split("?", 1)[0].lower()


def on_break_glass(email: str, entries: Iterable[str]) -> str | None:
    """The break-glass entry that protects ``email``, if any (emails, any case)."""
    wanted = member_email(email)
    for entry in entries:
        if member_email(str(entry).strip()) == wanted:
            return str(entry)
    return None


def _refuse(message: str, fix: str) -> ActionError:
    return ActionError(message, kind=ErrorKind.REFUSED, retryable=False, fix=fix)


def check_targets(caller: CallerIdentity, *, accounts: Iterable[str] = (),
                  keys: Iterable[tuple[str, str]] = (), break_glass: Iterable[str] = (),
                  max_targets: int | None = None, count: int | None = None) -> None:
    """Raise ActionError(kind=ErrorKind.REFUSED) if any target is off limits.

    ``accounts`` are service-account emails (or members naming them); ``keys`` are
    (key id, owning account email) pairs; ``count`` is the number of targets the
    step acts on (default: all of them).
    """
    accounts, keys = list(accounts), list(keys)
    entries = [str(e) for e in break_glass]
    total = count if count is not None else len(accounts) + len(keys)
    cap = max_targets if max_targets is not None else TARGET_CAP
    if total > cap:
        raise _refuse(f"{total} targets in one step is more than the limit of {cap}",
                      f"check the list, then raise the step's `max_targets` to {total} "
                      "(a many-target plan needs two-person approval)")
    mine = caller.emails()
    for key_id, owner in keys:
        if caller.key_id and key_id == caller.key_id:
            raise _refuse(f"refusing to act on key {key_id}: it is the key rescind is "
                          f"running with ({caller.email})",
                          "run rescind with other credentials (gcp.key_file or "
                          "gcp.impersonate) to revoke this key")
        accounts.append(owner)
    for account in accounts:
        email = member_email(account)
        if email in mine:
            raise _refuse(f"refusing to act on {email}: it is the identity rescind is "
                          f"running as ({caller.email})",
                          "run rescind as another principal (gcp.impersonate or "
                          "gcp.key_file) to act on this one")
        if (hit := on_break_glass(email, entries)) is not None:
            raise _refuse(f"refusing to act on {email}: it is on the break-glass list "
                          f"({hit})",
                          "remove it from gcp.break_glass if this is really intended")
