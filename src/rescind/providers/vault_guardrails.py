"""Guardrails every Vault revocation goes through, in one place.

rescind never revokes the token it runs with, nor (since Vault's API does not name a
token's parent) any token while its own token has a parent: revoking that parent
would revoke rescind's token and stop the response half-way. It never touches a
break-glass accessor or AppRole role, never revokes a lease prefix at the root or a
whole mount unless the step says so explicitly (and the plan is then critical, with
the path typed to approve), and acts on more than ``TARGET_CAP`` targets only when
the step raises ``max_targets``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rescind.errors import ActionError
from rescind.providers.aws_guardrails import TARGET_CAP


@dataclass(frozen=True)
class SelfToken:
    """rescind's own token, from auth/token/lookup-self (never its id)."""

    accessor: str
    orphan: bool
    display_name: str
    policies: tuple[str, ...]
    entity_id: str = ""

    def describe(self) -> str:
        return (f"{self.display_name} (accessor {self.accessor}, policies "
                f"{', '.join(self.policies) or 'none'})")


def _refuse(message: str, fix: str) -> ActionError:
    return ActionError(message, kind="refused", retryable=False, fix=fix)


def check_count(count: int, max_targets: int | None) -> None:
    cap = max_targets if max_targets is not None else TARGET_CAP
    if count > cap:
        raise _refuse(f"{count} targets in one step is more than the limit of {cap}",
                      f"check the list, then raise the step's `max_targets` to {count} "
                      "(a many-target plan needs two-person approval)")


def check_tokens(me: SelfToken, accessors: Iterable[str], break_glass: Iterable[str]) -> None:
    protected = {b.strip() for b in break_glass}
    for accessor in accessors:
        if accessor == me.accessor:
            raise _refuse(f"refusing to revoke token {accessor}: it is the token rescind is "
                          f"running with ({me.describe()})",
                          "run rescind with another token (`vault login` as another "
                          "identity) to revoke this one")
        if accessor in protected:
            raise _refuse(f"refusing to revoke token {accessor}: it is on the break-glass list",
                          "remove it from [vault] break_glass if this is really intended")
    if not me.orphan:
        raise _refuse("refusing to revoke tokens while rescind's own token has a parent: "
                      "Vault does not say which token that is, and revoking it would revoke "
                      f"rescind's token too ({me.describe()})",
                      "log in with an auth method (`vault login -method=oidc`, userpass, "
                      "approle) or use `vault token create -orphan`, then retry")


def check_roles(roles: Iterable[str], break_glass: Iterable[str]) -> None:
    protected = {b.strip() for b in break_glass}
    for role in roles:
        if role in protected:
            raise _refuse(f"refusing to act on AppRole role {role}: it is on the break-glass "
                          "list", "remove it from [vault] break_glass if this is really "
                          "intended")


def prefix_scope(prefix: str, mounts: Iterable[str]) -> str | None:
    """"root" for the whole lease tree, "mount" for a whole secrets engine, else None."""
    cleaned = prefix.strip().strip("/")
    if not cleaned:
        return "root"
    if any(cleaned == m.strip("/") for m in mounts):
        return "mount"
    return None


def check_prefix(prefix: str, mounts: Iterable[str], *, whole_mount: bool) -> str | None:
    scope = prefix_scope(prefix, mounts)
    if scope is not None and not whole_mount:
        where = "every lease in Vault" if scope == "root" else f"every lease of mount {prefix}"
        raise _refuse(f"refusing to revoke {where} ({prefix or '/'!r}) without an explicit "
                      "`whole_mount: true`",
                      "narrow the prefix to a role (e.g. aws/creds/ROLE), or set "
                      "`whole_mount: true` in the step: the plan is then critical and its "
                      "approver types the path")
    return scope
