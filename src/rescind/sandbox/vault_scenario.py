"""The ``vault:`` part of an exercise scenario: the simulated Vault before the incident.

Tokens (with parents, so revoking one revokes its children), AppRole roles and their
secret ids, dynamic-credential leases (each created by a token, revoked with it), KV v2
secrets with versions, database connections and static roles, ACL policies, and
the audit history (what the leaked credential did), which the simulated Vault writes
to its file audit device as Vault would, values HMAC'd with the device's salt.
Times are offsets (``-2h``) or ISO 8601, as in the AWS part of a scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rescind.sandbox.scenario_exercise import AttackerInject, unique_injects
from rescind.sandbox.scenario_file import read_mapping, validate


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenSpec(_Model):
    name: str = Field(description="Label the scenario uses for this token")
    id: str | None = None
    accessor: str | None = None
    display_name: str = "token"
    policies: list[str] = Field(default_factory=lambda: ["default"])
    parent: str | None = Field(default=None, description="Name of the parent token")
    ttl: str = "768h"
    created: str = "-1d"
    entity_id: str = ""
    meta: dict[str, str] = Field(default_factory=dict)


class SecretIdSpec(_Model):
    accessor: str
    secret_id: str | None = None
    created: str = "-7d"
    metadata: dict[str, str] = Field(default_factory=dict)
    cidr_list: list[str] = Field(default_factory=list)


class RoleSpec(_Model):
    name: str
    role_id: str | None = None
    policies: list[str] = Field(default_factory=lambda: ["default"])
    token_ttl: int = 3600
    secret_id_ttl: int = 0
    secret_ids: list[SecretIdSpec] = Field(default_factory=list)


class LeaseSpec(_Model):
    id: str = Field(description="Full lease id, e.g. aws/creds/deploy/AbC123")
    ttl: str = "1h"
    created: str = "-30m"
    token: str | None = Field(default=None, description="Name of the token that created it")


class KvVersionSpec(_Model):
    data: dict[str, Any]
    created: str = "-30d"


class KvSecretSpec(_Model):
    path: str = Field(description="mount/path, e.g. secret/payments/db")
    versions: list[KvVersionSpec] = Field(min_length=1)


class DbConnectionSpec(_Model):
    name: str
    plugin: str = "postgresql-database-plugin"
    username: str = "vault-admin"
    connection_url: str = "postgresql://{{username}}:{{password}}@db.example.com:5432/app"
    allowed_roles: list[str] = Field(default_factory=lambda: ["*"])


class StaticRoleSpec(_Model):
    name: str
    db_name: str
    username: str
    rotation_period: int = 86400
    last_rotation: str = "-12h"


class DatabaseSpec(_Model):
    mount: str = "database"
    connections: list[DbConnectionSpec] = Field(default_factory=list)
    static_roles: list[StaticRoleSpec] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list, description="Dynamic roles")


class AuditEventSpec(_Model):
    time: str
    token: str | None = Field(default=None, description="Name of the token that called")
    operation: str = "read"
    path: str
    remote_address: str = "203.0.113.50"
    error: str = ""
    lease: str | None = Field(default=None, description="Lease id the response issued")
    data: dict[str, Any] = Field(default_factory=dict, description="Request data (HMAC'd)")


class ResponderSpec(_Model):
    policies: list[str] = Field(default_factory=lambda: ["root"])
    orphan: bool = True
    display_name: str = "token-rescind-responder"


class RateLimitSpec(_Model):
    rate: float = Field(gt=0, description="Requests per second")
    burst: float = Field(default=10, gt=0)


class VaultAttackSpec(_Model):
    """One attacker request during the exercise, made with the scenario token ``token``
    (its name): ``create_token`` makes a child token (that display name), ``read_secret``
    reads a KV path. Written to the audit device; refused ("permission denied") once
    the responder has revoked the token."""

    token: str
    create_token: str | None = None
    read_secret: str | None = None
    ip: str = "203.0.113.50"

    @model_validator(mode="after")
    def _one(self) -> VaultAttackSpec:
        if (self.create_token is None) == (self.read_secret is None):
            raise ValueError("give create_token: (a display name) or read_secret: (a path)")
        return self


class VaultInjectSpec(AttackerInject[VaultAttackSpec]):
    """An inject in the simulated Vault (docs/exercises.md, Injects)."""


class VaultScenario(_Model):
    responder: ResponderSpec = Field(default_factory=ResponderSpec)
    policies: dict[str, str] = Field(default_factory=dict, description="name → HCL or JSON")
    tokens: list[TokenSpec] = Field(default_factory=list)
    approle_mount: str = "approle"
    roles: list[RoleSpec] = Field(default_factory=list)
    kv_mount: str = "secret"
    kv: list[KvSecretSpec] = Field(default_factory=list)
    database: DatabaseSpec = Field(default_factory=DatabaseSpec)
    aws_mount: str | None = "aws"
    aws_roles: list[str] = Field(default_factory=list)
    leases: list[LeaseSpec] = Field(default_factory=list)
    audit_salt: str | None = None  # a random one per Vault if not given
    audit: list[AuditEventSpec] = Field(default_factory=list)
    rate_limit: RateLimitSpec | None = None
    injects: list[VaultInjectSpec] = Field(default_factory=list)

    @field_validator("injects")
    @classmethod
    def _unique_injects(cls, value: list[VaultInjectSpec]) -> list[VaultInjectSpec]:
        return unique_injects(value)

    @classmethod
    def load(cls, path: Path) -> tuple[VaultScenario, dict[str, str]]:
        """The ``vault:`` part of a scenario file and the scenario's ``inputs``."""
        data = read_mapping(path, first_keys="vault:")
        inputs = data.get("inputs") if isinstance(data.get("inputs"), dict) else {}
        scenario = validate(cls, data.get("vault") or {}, path, docs="docs/vault.md",
                            within="vault.", docs_for={"injects": "docs/exercises.md"})
        return scenario, {str(k): str(v) for k, v in (inputs or {}).items()}
