"""The built-in Entra ID and Azure actions. Importing this module registers them all.

msgraph-sdk and the azure-mgmt SDKs are imported only when an action first talks to
Graph or Resource Manager.
"""

from __future__ import annotations

from rescind.actions import (  # noqa: F401  (imported to register the actions)
    azure_identity,
    entra_apps,
    entra_users,
)
