"""What every Vault action shares: the base params, the provider, target lists, and
what stays valid after a change.

The cloud-neutral helpers (``bounded``, ``drift``, ``run_targets``, ``plan_for``...)
are in ``actions.common``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from rescind.actions.base import Action, ActionContext, Plan
from rescind.actions.common import bounded

if TYPE_CHECKING:
    from rescind.providers.vault import VaultProvider

T = TypeVar("T")
# What stays valid, said in the plans of the actions it concerns.
LEASES_OUTLIVE = ("Dynamic credentials Vault already issued (database users, AWS keys) stay "
                  "valid until their lease is revoked or expires: revoke them with "
                  "vault.lease.revoke_prefix")
TOKENS_OUTLIVE = ("Tokens already issued with the old secret id or role id keep working until "
                  "they expire: revoke them with vault.token.revoke (the audit log names them)")


class VaultParams(BaseModel):
    """Parameters every Vault action accepts."""

    model_config = ConfigDict(extra="forbid")
    max_targets: int | None = Field(
        default=None, ge=1,
        description="Allow this many targets in one step (the default limit is 20). Set by "
                    "the step's max_targets.")


class VaultAction(Action[Any]):
    """A Vault action: it declares the Vault policy it needs, as ``"<capability> <path>"``."""

    providers = ("vault",)
    permissions: ClassVar[tuple[str, ...]] = ()


def vault(ctx: ActionContext) -> VaultProvider:
    provider: VaultProvider = ctx.provider("vault")
    return provider


async def read_each(provider: VaultProvider, read: Callable[[VaultProvider, str], T],
                    keys: list[str]) -> dict[str, T]:
    """``read(provider, key)`` for every key, in the provider's pool, ``width`` at a time."""
    async def one(key: str) -> tuple[str, T]:
        return key, await provider.run(read, provider, key)

    return dict(await bounded(keys, one, provider.width))


def gone_or(fn: Callable[[], T]) -> T | None:
    """``fn()``, or None when what it reads is gone (kind not-found)."""
    from rescind.errors import ActionError

    try:
        return fn()
    except ActionError as exc:
        if exc.kind == "not-found":
            return None
        raise


def with_reversible(plan: Plan, reversible: bool) -> Plan:
    """``plan`` with ``reversible`` decided by its params (e.g. nothing destroyed)."""
    return plan.model_copy(update={"reversible": reversible})
