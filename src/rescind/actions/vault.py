"""The built-in Vault (and OpenBao) actions. Importing this module registers them all.

hvac is imported only when an action first talks to Vault.
"""

from __future__ import annotations

from rescind.actions import (  # noqa: F401  (imported to register the actions)
    vault_approle,
    vault_audit,
    vault_database,
    vault_kv,
    vault_leases,
    vault_tokens,
)
