"""Vault's words for the one redaction (:mod:`rescind.redaction`), registered on import.

Imported by every module that handles Vault data before it is written: the dry-run
guard and the audit-log timeline source. Names shared with AWS that mean something
else in Vault (``role_id``, ``secret_id`` are secrets in an AppRole request, ids in
IAM and Secrets Manager) cannot be told apart by name alone: the Vault guard hides
those fields of Vault requests itself (``vault_guard.hide_secrets``).
"""

from __future__ import annotations

from rescind.redaction import register_secret_names

register_secret_names(
    # sys/init, sys/rekey and sys/generate-root answers
    ("unsealkey", "recoverykey"),
    # identifiers of tokens and secret ids, and a token's facts in audit entries
    not_secret=("accessor", "accessors", "tokenaccessor", "clienttokenaccessor",
                "secretidaccessor", "secretidaccessors", "tokenpolicies", "tokentype",
                "tokenttl", "tokenissuetime", "tokennumuses", "tokenmaxttl"),
)
