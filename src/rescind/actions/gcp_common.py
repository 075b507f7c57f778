"""What every Google Cloud action shares: params, the provider, names, the
lingering-access warning. What actions of any cloud share is in
:mod:`rescind.actions.common`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from rescind.actions.base import ActionContext
from rescind.actions.common import as_list
from rescind.errors import ActionError
from rescind.providers.base import table

if TYPE_CHECKING:
    from rescind.providers.gcp import GcpProvider

LINGERING_GCP = ("IAM changes take a few minutes to propagate, and OAuth access tokens "
                 "already issued stay valid until they expire (up to 1 hour): revoking does "
                 "not end a session that is running now")
SA_EMAIL = re.compile(r"^[a-z0-9][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.gserviceaccount\.com$")
PROJECT_PATTERN = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"
OWNER_ROLES = frozenset({"roles/owner", "roles/editor"})


class GcpParams(BaseModel):
    """Parameters every Google Cloud action accepts."""

    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(default=None, pattern=PROJECT_PATTERN,
                                description="Project id to act in (default: the first of "
                                            "gcp.projects)")
    max_targets: int | None = Field(default=None, ge=1,
                                    description="Allow this many targets in one step (the "
                                                "default limit is 20)")


def gcp(ctx: ActionContext) -> GcpProvider:
    """The incident's Google Cloud provider."""
    provider: GcpProvider = ctx.provider("gcp")
    return provider


def max_targets(ctx: ActionContext, params: GcpParams) -> int | None:
    if params.max_targets is not None:
        return params.max_targets
    value = table(ctx.settings, "gcp").get("max_targets")
    return int(value) if value is not None else None


def break_glass(ctx: ActionContext) -> list[str]:
    value = table(ctx.settings, "gcp").get("break_glass") or []
    return [str(v) for v in as_list(value)]


def sa_email(value: str) -> str:
    """A service account named by email, ``serviceAccount:EMAIL`` or its resource name."""
    email = value.strip().rsplit("/", 1)[-1].removeprefix("serviceAccount:").lower()
    if not SA_EMAIL.match(email):
        raise ActionError(f"{value!r} is not a service account email", retryable=False,
                          fix="give it as NAME@PROJECT.iam.gserviceaccount.com")
    return email


def account_name(email: str) -> str:
    """The IAM resource name of a service account (``-``: any project)."""
    return f"projects/-/serviceAccounts/{email}"


def member_of(value: str) -> str:
    """A policy member: a bare service account email gains ``serviceAccount:``."""
    value = value.strip()
    if ":" in value:
        return value
    if SA_EMAIL.match(value.lower()):
        return f"serviceAccount:{value.lower()}"
    raise ActionError(f"{value!r} is not a policy member", retryable=False,
                      fix="prefix it with its type: serviceAccount:, user:, group:, "
                          "principal:// or principalSet://")

