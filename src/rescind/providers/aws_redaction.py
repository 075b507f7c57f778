"""AWS's words for the one redaction (:mod:`rescind.redaction`), registered on import.

Imported by every module that handles AWS data before it is written: the dry-run
guard, the CloudTrail normaliser and the simulated account's trail.
"""

from __future__ import annotations

from rescind.redaction import register_secret_names

register_secret_names(
    # IAM's MFA codes and a virtual device's seed (and the QR code that carries it),
    # a SAML response (AssumeRoleWithSAML)
    ("authenticationcode", "base32stringseed", "qrcodepng", "samlassertion"),
    # identifiers that name a secret or a credential, and pagination/idempotency tokens
    not_secret=("secretid", "secretids", "secretname", "secretarn", "nexttoken",
                "clientrequesttoken", "tokencodeserialnumber"),
    # STS responses: the session's key id (traced by a responder) beside its secrets
    containers=("credentials",),
)
