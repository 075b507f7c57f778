"""The ``[vault]`` table of rescind's settings, validated.

Address, namespace and CA bundle come from here or from Vault's own variables
(``VAULT_ADDR``, ``VAULT_NAMESPACE``, ``VAULT_CACERT``, ``VAULT_SKIP_VERIFY``). The
responder's token comes only from ``VAULT_TOKEN`` or the token helper file
(``~/.vault-token``), never from a config file: ``token`` is set by the simulated
Vault of exercise mode alone, and a live or dry-run incident refuses it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rescind.settings.types import CommaList

DEFAULT_WIDTH = 8


class VaultSettings(BaseModel):
    """Everything the Vault provider reads."""

    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(default=None, description="Vault's address (default: "
                                "VAULT_ADDR, else https://127.0.0.1:8200)")
    namespace: str | None = Field(default=None, description="Vault Enterprise / OpenBao "
                                  "namespace (default: VAULT_NAMESPACE)")
    ca_cert: Path | None = Field(default=None, description="CA bundle that signed Vault's "
                                 "TLS certificate (default: VAULT_CACERT)")
    skip_verify: bool = Field(default=False, description="Do not check Vault's TLS "
                              "certificate (VAULT_SKIP_VERIFY); never in production")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per request")
    concurrency: int = Field(default=DEFAULT_WIDTH, ge=1, le=64,
                             description="Requests at once for many-target steps")
    break_glass: CommaList = Field(default_factory=list, description="Token accessors and "
                                 "AppRole role names rescind must never revoke")
    max_targets: int | None = Field(default=None, ge=1, description="Allow this many "
                                    "targets in one step (default limit 20)")
    audit_logs: CommaList = Field(default_factory=list, description="File audit device logs "
                                "rescind may read (vault.audit.find)")
    audit_device: str = Field(default="file", description="Path of the audit device whose "
                              "salt sys/audit-hash uses")
    # Only the simulated Vault sets this: a real token comes from VAULT_TOKEN.
    token: SecretStr | None = Field(default=None, description="Simulated Vault only")
