"""The ``[aws]`` table of rescind's settings, validated.

Set in ``rescind.toml``, by ``RESCIND_AWS_<FIELD>``, or by ``--set aws.FIELD=VALUE``
(``--profile``, ``--region`` and ``--break-glass`` are aliases). Exercise mode
fills the endpoints and credentials from the simulated account.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, StringConstraints

from rescind.settings.types import CommaList

DEFAULT_WIDTH = 16
# Athena identifiers go into SQL text (they cannot be parameters): letters, digits, _.
_IDENT = r"^[a-z_][a-z0-9_]{0,127}$"
ATHENA_SETTINGS = frozenset({"athena_database", "athena_table", "athena_workgroup",
                             "athena_output", "trail_location", "org_id"})
AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]


class AssumeRole(BaseModel):
    """The role rescind assumes in one account; the session is ``rescind-<incident>``."""

    model_config = ConfigDict(extra="forbid")
    role_arn: str = Field(pattern=r"^arn:aws[\w-]*:iam::\d{12}:role/.+$",
                          description="The role's ARN")
    external_id: SecretStr | None = Field(default=None,
                                          description="sts:ExternalId the trust policy requires")


def _role(value: Any) -> Any:
    # An account's entry may be just the role's ARN.
    return {"role_arn": value} if isinstance(value, str) else value


class AwsSettings(BaseModel):
    """Everything the AWS provider reads."""

    model_config = ConfigDict(extra="forbid")
    profile: str | None = Field(default=None, description="Profile of the shared config "
                                "(default: the credential chain's)")
    region: str = Field(default="us-east-1", description="Region for regional calls")
    regions: CommaList = Field(default_factory=list, description="Regions timeline.pull reads "
                               "when a step names none (default: region)")
    assume_roles: dict[AccountId, Annotated[AssumeRole, BeforeValidator(_role)]] = Field(
        default_factory=dict, description="Per account id, the role to assume there")
    org_role: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+=,.@_/-]+$", max_length=512,
                                 description="Role (path/name) to assume in any account with "
                                             "no assume_roles entry, e.g. IncidentResponse")
    concurrency: int = Field(default=DEFAULT_WIDTH, ge=1, le=256,
                             description="Calls at once for many-target steps")
    break_glass: CommaList = Field(default_factory=list, description="Users and roles "
                                   "(names or ARNs) rescind must never revoke")
    max_targets: int | None = Field(default=None, ge=1, description="Allow this many targets "
                                    "in one step (default limit 20)")
    endpoint_url: str | None = Field(default=None, description="Endpoint for every service")
    cloudtrail_endpoint_url: str | None = Field(default=None,
                                                description="Endpoint for CloudTrail")
    athena_database: str = Field(default="default", pattern=_IDENT,
                                 description="Athena database holding the trail table")
    athena_table: str = Field(default="cloudtrail_org", pattern=_IDENT,
                              description="Athena table over the organisation trail (`rescind "
                                          "timeline athena-table` prints its DDL)")
    athena_workgroup: str = Field(default="primary", description="Athena workgroup")
    athena_output: str | None = Field(default=None, pattern=r"^s3://[a-z0-9.-]+(/.*)?$",
                                      description="s3://bucket/prefix/ for Athena's results "
                                                  "(default: the workgroup's)")
    trail_location: str | None = Field(default=None, pattern=r"^s3://[a-z0-9.-]+(/.*)?$",
                                       description="s3://bucket/prefix of the organisation "
                                                   "trail (the folder holding AWSLogs/)")
    org_id: str | None = Field(default=None, pattern=r"^o-[a-z0-9]{10,32}$",
                               description="Organisation id in the trail's keys (o-...)")
    # Written into CloudTrail Lake's SQL (it takes no parameters): a strict pattern.
    event_data_store: str | None = Field(
        default=None, max_length=256,
        pattern=r"^(arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:\d{12}:eventdatastore/)?"
                r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*$",
        description="CloudTrail Lake event data store (ARN or id) for timeline.pull "
                    "via cloudtrail-lake")
    # Only the simulated account sets these: real credentials come from the chain.
    access_key_id: str | None = Field(default=None, description="Simulated account only")
    secret_access_key: SecretStr | None = Field(default=None,
                                                description="Simulated account only")
    session_token: SecretStr | None = Field(default=None, description="Simulated account only")
