"""The ``entra:`` and ``azure:`` sections of an exercise scenario, validated.

A scenario YAML describes the simulated tenant (users with their sign-in methods
and directory roles, applications and service principals with their credentials,
grants and app role assignments) and subscription (user-assigned managed
identities, federated credentials, role assignments), and what the attacker did
(``audit``, ``sign_ins``, ``activity``). Times are offsets from now (``-2h``) or
ISO 8601. Other top-level sections (another cloud's) are left to their sandboxes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rescind.sandbox.scenario_exercise import AttackerInject, unique_injects
from rescind.sandbox.scenario_file import read_mapping, validate

TENANT_ID = "72f988bf-0000-4000-8000-000000000001"
SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
RESPONDER_ID = "a0000000-0000-4000-8000-00000000000a"
# Built-in Azure roles the simulated subscription knows, by name → role definition id.
ROLES = {"Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
         "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
         "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
         "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
         "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
         "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthMethodSpec(_Model):
    id: str
    type: Literal["phone", "microsoftAuthenticator", "fido2", "email", "password",
                  "softwareOath", "temporaryAccessPass"]
    created: str | None = "-200d"
    detail: str = ""  # phone number, device name, FIDO2 model, address


class UserSpec(_Model):
    id: str
    upn: str
    display_name: str = ""
    enabled: bool = True
    on_prem_sync: bool = False
    roles: list[str] = Field(default_factory=list)  # directory role names
    auth_methods: list[AuthMethodSpec] = Field(default_factory=list)
    last_sign_in: str | None = None
    owned_apps: list[str] = Field(default_factory=list)  # application object ids


class PasswordCredentialSpec(_Model):
    key_id: str
    display_name: str = ""
    hint: str = "abc"
    start: str = "-90d"
    end: str = "+275d"


class KeyCredentialSpec(_Model):
    key_id: str
    display_name: str = ""
    type: str = "AsymmetricX509Cert"
    usage: str = "Verify"
    start: str = "-90d"
    end: str = "+275d"


class AppRoleAssignmentSpec(_Model):
    id: str
    resource_id: str
    resource_display_name: str = "Microsoft Graph"
    app_role_id: str = "df021288-bdef-4463-88db-98f22de89214"  # User.Read.All


class GrantSpec(_Model):
    id: str
    resource_id: str
    scope: str
    consent_type: Literal["AllPrincipals", "Principal"] = "AllPrincipals"
    principal_id: str | None = None


class ApplicationSpec(_Model):
    id: str
    app_id: str
    display_name: str
    passwords: list[PasswordCredentialSpec] = Field(default_factory=list)
    keys: list[KeyCredentialSpec] = Field(default_factory=list)
    owners: list[str] = Field(default_factory=list)  # user ids


class ServicePrincipalSpec(_Model):
    id: str
    app_id: str
    display_name: str
    enabled: bool = True
    type: Literal["Application", "ManagedIdentity"] = "Application"
    passwords: list[PasswordCredentialSpec] = Field(default_factory=list)
    app_role_assignments: list[AppRoleAssignmentSpec] = Field(default_factory=list)
    oauth_grants: list[GrantSpec] = Field(default_factory=list)
    owners: list[str] = Field(default_factory=list)


class ActorSpec(_Model):
    user: str | None = None  # a user id or UPN
    app: str | None = None  # a service principal id
    ip: str = ""


class AuditSpec(_Model):
    time: str
    activity: str
    category: str = "UserManagement"
    service: str = "Core Directory"
    by: ActorSpec | None = None
    targets: list[str] = Field(default_factory=list)  # object ids
    result: Literal["success", "failure"] = "success"


class SignInSpec(_Model):
    time: str
    user: str | None = None  # user id (interactive sign-in)
    service_principal: str | None = None  # service principal id (app-only sign-in)
    app: str = "Azure Portal"
    ip: str = "198.51.100.23"
    error_code: int = 0
    city: str = "Example City"
    user_agent: str = "Mozilla/5.0"


class EntraAttackSpec(_Model):
    """One attacker move in the tenant during the exercise: ``add_secret`` adds a client
    secret to a service principal (as the principal itself, logged in the directory
    audit), ``sign_in`` signs in as one (app-only, logged in the sign-ins, with the
    secret ``secret`` if given). Both fail as Entra would once the principal is
    disabled or the secret removed (a failed sign-in, nothing changed)."""

    add_secret: str | None = None  # a service principal id
    key_id: str | None = None  # the new secret's keyId
    sign_in: str | None = None  # a service principal id
    secret: str | None = None  # the keyId of the secret it signs in with
    app: str = "Microsoft Graph"
    ip: str = "203.0.113.50"

    @model_validator(mode="after")
    def _one(self) -> EntraAttackSpec:
        if (self.add_secret is None) == (self.sign_in is None):
            raise ValueError("give add_secret: or sign_in: (a service principal id)")
        return self


class EntraInjectSpec(AttackerInject[EntraAttackSpec]):
    """An inject in the simulated tenant (docs/exercises.md, Injects)."""


class EntraSpec(_Model):
    tenant_id: str = TENANT_ID
    responder: UserSpec = UserSpec(id=RESPONDER_ID, upn="responder@example.com",
                                   display_name="Incident Responder",
                                   roles=["Privileged Authentication Administrator"])
    users: list[UserSpec] = Field(default_factory=list)
    applications: list[ApplicationSpec] = Field(default_factory=list)
    service_principals: list[ServicePrincipalSpec] = Field(default_factory=list)
    audit: list[AuditSpec] = Field(default_factory=list)
    sign_ins: list[SignInSpec] = Field(default_factory=list)
    # Extra noise: this many harmless sign-ins of the target user, for paging.
    filler_sign_ins: int = 0
    injects: list[EntraInjectSpec] = Field(default_factory=list)

    @field_validator("injects")
    @classmethod
    def _unique_injects(cls, value: list[EntraInjectSpec]) -> list[EntraInjectSpec]:
        return unique_injects(value)


class FederatedCredentialSpec(_Model):
    name: str
    issuer: str = "https://token.actions.githubusercontent.com"
    subject: str
    audiences: list[str] = Field(default_factory=lambda: ["api://AzureADTokenExchange"])


class IdentitySpec(_Model):
    name: str
    resource_group: str
    principal_id: str
    client_id: str
    location: str = "westeurope"
    federated_credentials: list[FederatedCredentialSpec] = Field(default_factory=list)


class RoleAssignmentSpec(_Model):
    name: str  # the assignment's GUID
    principal_id: str
    role: str = "Contributor"
    scope: str = ""  # default: the subscription
    principal_type: str = "ServicePrincipal"


class ActivitySpec(_Model):
    time: str
    operation: str
    caller: str
    resource_id: str = ""
    status: Literal["Succeeded", "Failed"] = "Succeeded"
    ip: str = "198.51.100.23"


class AzureAttackSpec(_Model):
    """One attacker write in the subscription during the exercise, made as ``caller``
    (a principal's object id): ``add_federated_credential`` adds one to a managed
    identity (``RESOURCE_GROUP/NAME``), so the workload ``subject`` names can sign in as
    it; ``assign_role`` gives a principal (object id) ``role`` at ``scope``. Both go
    to the Activity Log; refused (AuthorizationFailed, nothing changed) once the caller
    holds no role assignment that allows the write (Owner or Contributor for a
    federated credential, Owner or User Access Administrator for a role assignment)."""

    caller: str
    add_federated_credential: str | None = None
    name: str | None = None  # the federated credential's name
    issuer: str = "https://token.actions.githubusercontent.com"
    subject: str | None = None
    assign_role: str | None = None
    role: str = "Owner"
    scope: str = ""  # default: the subscription
    assignment: str | None = None  # the new assignment's GUID (default: fixed by the inject)
    ip: str = "203.0.113.50"

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"{value!r} is not a role the simulated subscription knows: "
                             f"one of {', '.join(ROLES)}")
        return value

    @model_validator(mode="after")
    def _one(self) -> AzureAttackSpec:
        if (self.add_federated_credential is None) == (self.assign_role is None):
            raise ValueError("give add_federated_credential: (RESOURCE_GROUP/NAME of a "
                             "managed identity) or assign_role: (a principal id)")
        if self.add_federated_credential is not None:
            if not re.fullmatch(r"[^/\s]+/[^/\s]+", self.add_federated_credential):
                raise ValueError(f"add_federated_credential: {self.add_federated_credential!r}"
                                 " is not RESOURCE_GROUP/NAME of a managed identity")
            if not (self.name and self.subject):
                raise ValueError("a federated credential needs name: and subject:")
        return self


class AzureInjectSpec(AttackerInject[AzureAttackSpec]):
    """An inject in the simulated subscription (docs/exercises.md, Injects)."""


class AzureSpec(_Model):
    subscription_id: str = SUBSCRIPTION_ID
    identities: list[IdentitySpec] = Field(default_factory=list)
    role_assignments: list[RoleAssignmentSpec] = Field(default_factory=list)
    activity: list[ActivitySpec] = Field(default_factory=list)
    # Resource providers the subscription has not registered: the first call answers
    # 409 MissingSubscriptionRegistration (azure-mgmt-core then registers it).
    unregistered: list[str] = Field(default_factory=list)
    injects: list[AzureInjectSpec] = Field(default_factory=list)

    @field_validator("injects")
    @classmethod
    def _unique_injects(cls, value: list[AzureInjectSpec]) -> list[AzureInjectSpec]:
        return unique_injects(value)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="allow")  # other clouds' sections
    name: str = "entra"
    entra: EntraSpec = Field(default_factory=EntraSpec)
    azure: AzureSpec = Field(default_factory=AzureSpec)


def load_scenario(path: Path | None) -> Scenario:
    """The scenario at ``path`` (an empty tenant and subscription when None); errors name
    the file, its line and the field."""
    if path is None:
        return Scenario()
    data = read_mapping(path, first_keys="entra:, azure:")
    return validate(Scenario, data, path, docs="docs/entra.md",
                    docs_for={"entra": "docs/entra.md", "azure": "docs/azure.md"})
