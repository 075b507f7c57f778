"""Vault's secrets in the one redaction: what the shared list cannot tell by name.

``secret_id`` and ``role_id`` are ids in AWS (public there) and an AppRole login in
Vault: the Vault guard hides them itself. Accessors name a token or a secret id and
cannot log in: they stay visible, since the responder traces them.
"""

from __future__ import annotations

from rescind.providers.vault_guard import hide_secrets
from rescind.redaction import REDACTED, redact

CANARY = "CANARYvaultSecretDoNotShow"


def test_the_guard_hides_an_approle_login_and_keeps_accessors() -> None:
    shown = hide_secrets({"role_id": CANARY, "secret_id": CANARY, "token": CANARY,
                          "secret_id_accessor": "0a1b2c3d-0000-4000-8000-EXAMPLE00001",
                          "accessor": "leakedAccessorEXAMPLE001"})
    assert CANARY not in str(shown)
    assert shown["secret_id_accessor"] == "0a1b2c3d-0000-4000-8000-EXAMPLE00001"
    assert shown["accessor"] == "leakedAccessorEXAMPLE001"


def test_vaults_names_in_the_shared_list() -> None:
    import rescind.providers.vault_redaction  # noqa: F401

    shown = redact({"unseal_keys_b64": [CANARY], "recovery_keys": [CANARY],
                    "token_accessor": "leakedAccessorEXAMPLE001",
                    "secret_id_accessors": ["0a1b2c3d-0000-4000-8000-EXAMPLE00001"],
                    "token_policies": ["deploy"]})
    assert CANARY not in str(shown) and shown["unseal_keys_b64"] == REDACTED
    assert shown["token_accessor"] == "leakedAccessorEXAMPLE001"
    assert shown["secret_id_accessors"] == ["0a1b2c3d-0000-4000-8000-EXAMPLE00001"]
    assert shown["token_policies"] == ["deploy"]
