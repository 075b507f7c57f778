"""The exercise scenario: a simulated AWS account and its CloudTrail history, as YAML.

A scenario describes the account's state before the incident (users, keys, roles,
secrets) and what the leaked credential did (``cloudtrail.events``). Successful IAM
write events are also *applied* to the simulated account, so the persistence an
attacker created exists there exactly as the history says (set ``apply: false`` on
an event to keep it history-only).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rescind.sandbox.scenario_exercise import AttackerInject, ExerciseFields, unique_injects
from rescind.sandbox.scenario_file import read_mapping, validate
from rescind.timeline.window import parse_when

ACCESS_KEY_RE = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")


def parse_time(value: str | datetime, now: datetime) -> datetime:
    """Resolve ``-2h`` / ``+5m`` / ``now`` (relative to ``now``) or an ISO 8601 time to UTC."""
    return parse_when(value, now)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyLastUsed(_Model):
    time: str = "-1h"
    service: str = "iam"
    region: str = "us-east-1"


class AccessKeySpec(_Model):
    id: str
    status: Literal["Active", "Inactive"] = "Active"
    created: str = "-90d"
    last_used: KeyLastUsed | None = None

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not ACCESS_KEY_RE.match(value):
            raise ValueError("an access key id is AKIA or ASIA followed by 16 of A-Z0-9")
        return value


class LoginProfileSpec(_Model):
    password_reset_required: bool = False


class UserSpec(_Model):
    name: str
    path: str = "/"
    access_keys: list[AccessKeySpec] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    attached_policies: list[str] = Field(default_factory=list)
    inline_policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    login_profile: LoginProfileSpec | None = None
    mfa: bool = False
    tags: dict[str, str] = Field(default_factory=dict)


class ManagedPolicySpec(_Model):
    name: str
    document: dict[str, Any]
    description: str = ""


class GroupSpec(_Model):
    name: str
    attached_policies: list[str] = Field(default_factory=list)
    inline_policies: dict[str, dict[str, Any]] = Field(default_factory=dict)


class RoleSpec(_Model):
    name: str
    path: str = "/"
    trust_policy: dict[str, Any] | None = None
    # Shorthand for a third-party role: trusted account + sts:ExternalId condition.
    trusted_account: str | None = None
    external_id: str | None = None
    attached_policies: list[str] = Field(default_factory=list)
    inline_policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    max_session_duration: int = 3600
    description: str = ""


class SecretSpec(_Model):
    name: str
    value: str = "example-not-a-real-secret"
    description: str = ""
    readers: list[str] = Field(default_factory=list)  # user names granted GetSecretValue


class Identity(_Model):
    """Who made a CloudTrail call: the ``userIdentity`` block, in shorthand.

    ``type`` is CloudTrail's userIdentity.type. ``user`` names an IAM user (IAMUser,
    IdentityCenterUser), ``role`` and ``session`` an assumed role, ``service`` an AWS
    service principal (AWSService, and ``invokedBy``), ``account`` another account
    (AWSAccount, cross-account calls).
    """

    type: Literal["IAMUser", "AssumedRole", "Root", "FederatedUser", "AWSService",
                  "AWSAccount", "IdentityCenterUser", "Unknown"] = "IAMUser"
    user: str | None = None
    access_key_id: str | None = None
    role: str | None = None
    session: str | None = None
    service: str | None = None
    account: str | None = None
    mfa: bool = False


class TrailEventSpec(_Model):
    time: str
    event_name: str = Field(alias="eventName")
    event_source: str = Field(alias="eventSource")
    region: str | None = None
    identity: Identity | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    request_parameters: dict[str, Any] | None = Field(default=None, alias="requestParameters")
    response_elements: dict[str, Any] | None = Field(default=None, alias="responseElements")
    error_code: str | None = Field(default=None, alias="errorCode")
    error_message: str | None = Field(default=None, alias="errorMessage")
    read_only: bool | None = Field(default=None, alias="readOnly")
    event_id: str | None = Field(default=None, alias="eventID")
    apply: bool | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class GenerateSpec(_Model):
    """Bulk history for benchmarks: ``count`` events in each region, spread over ``span``."""

    count: int = Field(ge=0)
    regions: list[str] | None = None
    span: str = "-7d"
    identity: Identity | None = None
    seed: int = 7


class AttackerSpec(_Model):
    """Defaults for the history's events: the leaked credential and where it was used from."""

    identity: Identity = Field(default_factory=Identity)
    source_ip: str = "203.0.113.50"
    user_agent: str = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off"


class InjectEventSpec(TrailEventSpec):
    """An attacker call an inject makes: a history event that happens when it fires."""

    time: str = "now"


class InjectSpec(AttackerInject[InjectEventSpec]):
    """An inject on the simulated AWS account: ``attacker`` calls made on it and written
    to its CloudTrail, and ``deny`` (the responder's calls to these operations get
    AccessDenied from then on), besides what every inject may do (InjectBase)."""

    ACTS: ClassVar[str] = "attacker:, deny:,"
    deny: list[str] = Field(default_factory=list)

    @field_validator("deny")
    @classmethod
    def _operations(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _OPERATION.match(name):
                raise ValueError(f"{name!r} is not an API operation: write it as "
                                 "DeleteAccessKey or iam:DeleteAccessKey")
        return value

    def acts(self) -> bool:
        return bool(self.attacker or self.deny)


_OPERATION = re.compile(r"^([a-z0-9-]+:)?[A-Z][A-Za-z0-9]+$")


class CloudTrailSpec(_Model):
    events: list[TrailEventSpec] = Field(default_factory=list)
    generate: GenerateSpec | None = None


class ResponderSpec(_Model):
    user: str = "responder"


class Scenario(ExerciseFields, _Model):
    name: str = "scenario"
    description: str = ""
    # The runbook inputs this exercise plays out (e.g. which key leaked), so a
    # facilitator's players start without knowing the scenario's ids.
    inputs: dict[str, str] = Field(default_factory=dict)
    account_id: str = "123456789012"
    regions: list[str] = Field(default_factory=lambda: ["us-east-1"])
    latency_ms: float = Field(default=0.0, ge=0)
    users: list[UserSpec] = Field(default_factory=list)
    policies: list[ManagedPolicySpec] = Field(default_factory=list)
    groups: list[GroupSpec] = Field(default_factory=list)
    roles: list[RoleSpec] = Field(default_factory=list)
    secrets: list[SecretSpec] = Field(default_factory=list)
    responder: ResponderSpec | None = None
    break_glass: list[str] = Field(default_factory=list)
    attacker: AttackerSpec = Field(default_factory=AttackerSpec)
    cloudtrail: CloudTrailSpec = Field(default_factory=CloudTrailSpec)
    # Other clouds' parts, each read by its own sandbox (vault_scenario, gcp_scenario,
    # graph_scenario): one file can stage an incident across clouds.
    vault: dict[str, Any] = Field(default_factory=dict)
    gcp: dict[str, Any] = Field(default_factory=dict)
    entra: dict[str, Any] = Field(default_factory=dict)
    azure: dict[str, Any] = Field(default_factory=dict)
    # Tabletop recipients for notify.send; read by sandbox/notify.py, checked there.
    notify: dict[str, Any] = Field(default_factory=dict)
    # What happens during the exercise (engine/injects.py fires them).
    injects: list[InjectSpec] = Field(default_factory=list)

    @field_validator("account_id")
    @classmethod
    def _twelve_digits(cls, value: str) -> str:
        if not re.fullmatch(r"\d{12}", value):
            raise ValueError("an AWS account id is 12 digits")
        return value

    @field_validator("regions")
    @classmethod
    def _some_region(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one region")
        return value

    @field_validator("injects")
    @classmethod
    def _unique_injects(cls, value: list[InjectSpec]) -> list[InjectSpec]:
        return unique_injects(value)

    def user(self, name: str) -> UserSpec | None:
        return next((u for u in self.users if u.name == name), None)

    @classmethod
    def load(cls, path: Path) -> Scenario:
        """Read a scenario file; errors name the file and the field."""
        data = read_mapping(path, first_keys="account_id:, users:")
        return validate(cls, data, path, docs="docs/timeline.md",
                        docs_for={"injects": "docs/exercises.md"})
