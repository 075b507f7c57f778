"""Guardrails every AWS revocation goes through, in one place.

rescind never revokes the identity it runs as (the access key in use, its IAM user,
the role of its assumed-role session), never touches a configured break-glass
principal, and acts on more than ``TARGET_CAP`` targets in one step only when the
step raises ``max_targets`` explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rescind.errors import ActionError

TARGET_CAP = 20


@dataclass(frozen=True)
class CallerIdentity:
    """Who rescind is, from sts:GetCallerIdentity plus the access key it signs with."""

    account: str
    arn: str
    user_id: str
    access_key_id: str | None = None

    @property
    def user_name(self) -> str | None:
        """The IAM user name when the caller is an IAM user (``arn:...:user/path/name``)."""
        resource = self.arn.split(":", 5)[-1]
        return resource.rsplit("/", 1)[-1] if resource.startswith("user/") else None

    @property
    def role_name(self) -> str | None:
        """The role of an assumed-role caller (``arn:...:assumed-role/name/session``)."""
        resource = self.arn.split(":", 5)[-1]
        if resource.startswith("assumed-role/"):
            parts = resource.split("/")
            return parts[1] if len(parts) >= 3 else None
        return None

    @property
    def is_root(self) -> bool:
        return self.arn.endswith(":root")


def _arn_name(entry: str) -> tuple[str | None, str | None, str] | None:
    """(account, type, name) of an IAM user/role ARN, or None if ``entry`` is no such ARN."""
    if not entry.startswith("arn:"):
        return None
    parts = entry.split(":", 5)
    if len(parts) < 6:
        return None
    resource = parts[5]
    kind, _, rest = resource.partition("/")
    if kind not in ("user", "role", "assumed-role") or not rest:
        return None
    name = rest.split("/")[0] if kind == "assumed-role" else rest.rsplit("/", 1)[-1]
    return (parts[4] or None, "role" if kind == "assumed-role" else kind, name)


def on_break_glass(kind: str, name: str, account: str, entries: Iterable[str]) -> str | None:
    """The break-glass entry that protects ``kind`` ``name`` in ``account``, if any.

    An entry is a bare name (a user or role of that name in any account) or an ARN.
    IAM names are unique case-insensitively, so the comparison ignores case.
    """
    for entry in entries:
        entry = str(entry).strip()
        parsed = _arn_name(entry)
        if parsed is None:
            if entry.lower() == name.lower():
                return entry
            continue
        arn_account, arn_kind, arn_name = parsed
        if (arn_kind == kind and arn_name.lower() == name.lower()
                and (arn_account is None or arn_account == account)):
            return entry
    return None


def _refuse(message: str, fix: str) -> ActionError:
    return ActionError(message, kind="refused", retryable=False, fix=fix)


def check_targets(caller: CallerIdentity, *, account: str,
                  users: Iterable[str] = (), roles: Iterable[str] = (),
                  access_keys: Iterable[tuple[str, str]] = (),
                  break_glass: Iterable[str] = (), max_targets: int | None = None,
                  count: int | None = None) -> None:
    """Raise ActionError(kind="refused") if any target is off limits.

    ``access_keys`` are (key id, owning user) pairs; ``count`` is the number of
    targets the step acts on (default: all of them); ``account`` is where they live.
    """
    users, roles, access_keys = list(users), list(roles), list(access_keys)
    entries = [str(e) for e in break_glass]
    total = count if count is not None else len(users) + len(roles) + len(access_keys)
    cap = max_targets if max_targets is not None else TARGET_CAP
    if total > cap:
        raise _refuse(
            f"{total} targets in one step is more than the limit of {cap}",
            f"check the list, then raise the step's `max_targets` to {total} "
            "(a many-target plan needs two-person approval)")
    same_account = caller.account == account
    for key_id, owner in access_keys:
        if caller.access_key_id and key_id == caller.access_key_id:
            raise _refuse(
                f"refusing to revoke {key_id}: it is the access key rescind is running with "
                f"({caller.arn})",
                "run rescind with other credentials (a separate incident-response role) "
                "to revoke this key")
        if (hit := on_break_glass("user", owner, account, entries)) is not None:
            raise _refuse(f"refusing to revoke {key_id}: its user {owner} is on the "
                          f"break-glass list ({hit})",
                          "remove it from the break_glass setting if this is really intended")
    for user in users:
        if same_account and caller.user_name and user.lower() == caller.user_name.lower():
            raise _refuse(f"refusing to act on user {user}: it is the identity rescind is "
                          f"running as ({caller.arn})",
                          "run rescind as another principal to act on this user")
        if (hit := on_break_glass("user", user, account, entries)) is not None:
            raise _refuse(f"refusing to act on user {user}: it is on the break-glass list "
                          f"({hit})",
                          "remove it from the break_glass setting if this is really intended")
    for role in roles:
        if same_account and caller.role_name and role.lower() == caller.role_name.lower():
            raise _refuse(f"refusing to act on role {role}: rescind's own session is a "
                          f"session of it ({caller.arn})",
                          "run rescind from another role to act on this one")
        if (hit := on_break_glass("role", role, account, entries)) is not None:
            raise _refuse(f"refusing to act on role {role}: it is on the break-glass list "
                          f"({hit})",
                          "remove it from the break_glass setting if this is really intended")
