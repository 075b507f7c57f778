"""The Google Cloud exercise scenario: a simulated project and its audit log, as YAML.

A scenario describes the project before the incident (service accounts, their keys
and IAM policies, the project's IAM policy, workload identity pools) and what the
leaked identity did (``audit_log.entries``, written as Cloud Audit Logs entries).
Times are offsets from now (``-3h``) or ISO 8601. Ids follow Google's documented
examples (project ``example-project``, number ``123456789012``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rescind.sandbox.scenario_exercise import AttackerInject, ExerciseFields, unique_injects
from rescind.sandbox.scenario_file import read_mapping, validate

KEY_ID = re.compile(r"^[0-9a-f]{40}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeySpec(_Model):
    id: str
    type: Literal["USER_MANAGED", "SYSTEM_MANAGED"] = "USER_MANAGED"
    created: str = "-90d"
    expires: str | None = None  # None: never (user-managed keys by default)
    disabled: bool = False

    @field_validator("id")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not KEY_ID.match(value):
            raise ValueError("a service-account key id is 40 lower-case hex digits")
        return value


class Binding(_Model):
    role: str
    members: list[str]
    condition: dict[str, str] | None = None


class ServiceAccountSpec(_Model):
    email: str
    display_name: str = ""
    disabled: bool = False
    keys: list[KeySpec] = Field(default_factory=list)
    policy: list[Binding] = Field(default_factory=list)  # who may act as it


class ProviderSpec(_Model):
    id: str
    issuer: str = "https://accounts.google.com"
    disabled: bool = False


class PoolSpec(_Model):
    pool: str
    providers: list[ProviderSpec] = Field(default_factory=list)


class AttackerSpec(_Model):
    """Defaults for the log's entries: the leaked identity and where it was used from."""

    principal: str = ""
    key: str | None = None  # the key id it signed with
    ip: str = "203.0.113.50"
    user_agent: str = "google-cloud-sdk gcloud/470.0.0 command/gcloud.iam"


class EntrySpec(_Model):
    """One Cloud Audit Logs entry, in shorthand."""

    time: str
    method: str
    service: str = "iam.googleapis.com"
    resource: str = ""
    log: Literal["activity", "data_access", "system_event", "policy"] = "activity"
    principal: str | None = None  # default: the attacker's
    key: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    status: int = 0  # google.rpc.Code: 0 OK, 7 PERMISSION_DENIED...
    message: str = ""
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    binding_deltas: list[dict[str, str]] = Field(default_factory=list)
    resource_type: str = "service_account"


class GenerateSpec(_Model):
    """Bulk history for benchmarks: ``count`` entries by the attacker over ``span``."""

    count: int = Field(ge=0)
    span: str = "-7d"
    seed: int = 7


class AuditLogSpec(_Model):
    attacker: AttackerSpec = Field(default_factory=AttackerSpec)
    entries: list[EntrySpec] = Field(default_factory=list)
    generate: GenerateSpec | None = None


class RateLimitSpec(_Model):
    """entries.list requests allowed per window per project (Google: 60 per 60 s)."""

    requests: int = Field(default=60, ge=1)
    window_s: float = Field(default=60.0, gt=0)


class GcpAttackSpec(_Model):
    """One attacker call during the exercise: ``create_key`` gives a service account a
    new user-managed key (logged as CreateServiceAccountKey); ``method`` is any other
    call, logged in Cloud Logging. Both act as ``principal`` (the scenario attacker's by
    default) signing with ``key``, and fail as Google would once that account or key is
    disabled or deleted."""

    create_key: str | None = None  # the service account's email
    new_key: str | None = None  # the id of the key it makes (40 hex)
    method: str | None = None
    service: str = "iam.googleapis.com"
    resource: str = ""
    log: Literal["activity", "data_access"] = "data_access"
    principal: str | None = None
    key: str | None = None

    @field_validator("new_key")
    @classmethod
    def _key_hex(cls, value: str | None) -> str | None:
        if value is not None and not KEY_ID.match(value):
            raise ValueError("a service-account key id is 40 lower-case hex digits")
        return value

    @model_validator(mode="after")
    def _one(self) -> GcpAttackSpec:
        if (self.create_key is None) == (self.method is None):
            raise ValueError("give create_key: (a service account) or method: (a call)")
        return self


class GcpInjectSpec(AttackerInject[GcpAttackSpec]):
    """An inject on the simulated project (docs/exercises.md, Injects)."""


class GcpScenario(ExerciseFields, _Model):
    name: str = "scenario"
    description: str = ""
    inputs: dict[str, str] = Field(default_factory=dict)
    project: str = "example-project"
    project_number: str = "123456789012"
    latency_ms: float = Field(default=0.0, ge=0)
    responder: str = "rescind-responder@example-project.iam.gserviceaccount.com"
    # responder_permissions (ExerciseFields): what the responder may do; None: everything.
    break_glass: list[str] = Field(default_factory=list)
    service_accounts: list[ServiceAccountSpec] = Field(default_factory=list)
    project_policy: list[Binding] = Field(default_factory=list)
    workload_identity_pools: list[PoolSpec] = Field(default_factory=list)
    rate_limit: RateLimitSpec = Field(default_factory=RateLimitSpec)
    audit_log: AuditLogSpec = Field(default_factory=AuditLogSpec)
    injects: list[GcpInjectSpec] = Field(default_factory=list)

    @field_validator("injects")
    @classmethod
    def _unique_injects(cls, value: list[GcpInjectSpec]) -> list[GcpInjectSpec]:
        return unique_injects(value)

    @classmethod
    def load(cls, path: Path) -> GcpScenario:
        """Read a scenario file; errors name the file and the field. A file that stages
        several clouds holds the project in its ``gcp:`` section."""
        data = read_mapping(path, first_keys="project:, service_accounts:")
        if isinstance(data.get("gcp"), dict):
            return validate(cls, data["gcp"], path, docs="docs/gcp.md", within="gcp.",
                            docs_for={"injects": "docs/exercises.md"})
        return validate(cls, data, path, docs="docs/gcp.md",
                        docs_for={"injects": "docs/exercises.md"})
