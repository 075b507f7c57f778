"""The built-in Google Cloud actions. Importing this module registers them all.

Each lives in a module named for what it acts on; the Google SDKs are imported
only when an action first talks to Google Cloud.
"""

from __future__ import annotations

from rescind.actions import gcp_bindings, gcp_sa  # noqa: F401  (imported to register them)
