"""Entra's and Azure's words for the one redaction (:mod:`rescind.redaction`), registered
on import.

Imported by every module that handles Graph or Resource Manager data before it is
written: the dry-run guards and the audit-record normaliser (pull and convert).
"""

from __future__ import annotations

from rescind.redaction import register_secret_names

register_secret_names(
    # A certificate's private half as Graph takes it (addKey's ``key`` is public; a
    # PFX upload's ``password`` is caught by the core list), a client assertion
    ("pfx", "clientassertion"),
    # Names that carry "password", "token" or "credential" but hold a date, a type or
    # an id a responder traces: which secret or certificate a service principal signed
    # in with, the token's own id, its issuer.
    not_secret=("lastpasswordchangedatetime", "passwordpolicies",
                "forcechangepasswordnextsignin", "forcechangepasswordnextsigninwithmfa",
                "servicePrincipalCredentialKeyId", "servicePrincipalCredentialThumbprint",
                "clientCredentialType", "federatedCredentialId", "uniqueTokenIdentifier",
                "tokenIssuerType", "tokenIssuerName", "incomingTokenType",
                "signInTokenProtectionStatus", "tokenProtectionStatusDetails"),
    # The Activity Log's ``authorization`` is the RBAC action and scope the call needed,
    # evidence rather than a header: judged field by field (a header string is hidden).
    containers=("authorization",),
)
