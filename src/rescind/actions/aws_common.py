"""What every AWS action shares: params, the provider, IAM names and ARNs, guardrail
settings. What actions of any cloud share is in :mod:`rescind.actions.common`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from rescind.actions.base import ActionContext
from rescind.actions.common import as_list

# Re-exported: AWS actions take their names and patterns from here.
from rescind.providers.aws_names import ACCESS_KEY_PATTERN as ACCESS_KEY_PATTERN
from rescind.providers.aws_names import iam_name as iam_name
from rescind.providers.base import table

if TYPE_CHECKING:
    from rescind.providers.aws import AwsProvider

LINGERING_AWS = ("AWS temporary credentials (STS sessions) obtained before this change can "
                 "stay valid for up to 36 hours unless the sessions are revoked "
                 "(aws.iam.revoke_sessions)")


class AwsParams(BaseModel):
    """Parameters every AWS action accepts."""

    model_config = ConfigDict(extra="forbid")

    account: str | None = Field(
        default=None, pattern=r"^\d{12}$",
        description="AWS account id to act in. Default: the account of rescind's own "
                    "credentials; another account needs an aws.assume_roles entry.")
    max_targets: int | None = Field(
        default=None, ge=1,
        description="Allow this many targets in one step (the default limit is 20). Set "
                    "by the step's max_targets.")


def aws(ctx: ActionContext) -> AwsProvider:
    """The incident's AWS provider."""
    provider: AwsProvider = ctx.provider("aws")
    return provider


def max_targets(ctx: ActionContext, params: AwsParams) -> int | None:
    if params.max_targets is not None:
        return params.max_targets
    value = table(ctx.settings, "aws").get("max_targets")
    return int(value) if value is not None else None


def break_glass(ctx: ActionContext) -> list[str]:
    value = table(ctx.settings, "aws").get("break_glass") or []
    return [str(v) for v in as_list(value)]


def arn(account: str, kind: str, name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


