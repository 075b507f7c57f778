"""The ``[entra]`` and ``[azure]`` tables of rescind's settings, validated.

Set in ``rescind.toml``, by ``RESCIND_ENTRA_<FIELD>`` / ``RESCIND_AZURE_<FIELD>``, or
by ``--set entra.FIELD=VALUE``. Exercise mode fills the endpoints and the simulated
responder's token.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rescind.providers.azure_credentials import CredentialKind
from rescind.settings.types import CommaList

DEFAULT_WIDTH = 16


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant_id: str | None = Field(default=None, description="The tenant (directory) id or "
                                  "domain (default: the credential's)")
    credential: CredentialKind = Field(
        default="auto", description="How to sign in: auto (environment service principal, "
        "workload identity, then the Azure CLI login), cli, environment, workload, or device-code")
    break_glass: CommaList = Field(default_factory=list, description="Accounts rescind must "
                                   "never touch: object ids or user principal names")
    max_targets: int | None = Field(default=None, ge=1, description="Allow this many targets "
                                    "in one step (default limit 20)")
    concurrency: int = Field(default=DEFAULT_WIDTH, ge=1, le=256,
                             description="Calls at once for many-target steps")
    # A GUID only: it names the evidence file and goes into the query's URL path.
    workspace_id: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$",
        description="The Log Analytics workspace (its id, a GUID) that timeline pulls with "
        "via: log-analytics query")
    logs_url: str = Field(default="https://api.loganalytics.io",
                          description="The Log Analytics query endpoint")
    # Only the simulated tenant sets this: real credentials come from azure-identity.
    token: SecretStr | None = Field(default=None, description="Simulated tenant only")


class EntraSettings(_Common):
    """Everything the Entra ID (Microsoft Graph) provider reads."""

    graph_url: str = Field(default="https://graph.microsoft.com/v1.0",
                           description="Microsoft Graph's v1.0 endpoint")


class AzureSettings(_Common):
    """Everything the Azure (Resource Manager) provider reads."""

    subscriptions: CommaList = Field(default_factory=list, description="Subscription ids "
                                     "rescind acts and reads in (the first is the default)")
    arm_url: str = Field(default="https://management.azure.com",
                         description="Azure Resource Manager's endpoint")
