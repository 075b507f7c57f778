"""Google Cloud's words for the one redaction (:mod:`rescind.redaction`), registered on import.

Imported by every module that handles Google Cloud data before it is written: the
dry-run guard, the audit-log normaliser and the log pull's evidence pages.
"""

from __future__ import annotations

from rescind.redaction import register_secret_names

register_secret_names(
    # iamcredentials signJwt / signBlob answers: a signed JWT is a bearer assertion
    # (it is exchanged for an access token), and a signed blob proves the key's holder
    ("signedjwt", "signedblob"),
    # Audit-log evidence a responder reads: the permission checks made on a call
    # (resource, permission, granted), STS token-exchange type URIs, page cursors
    not_secret=("authorizationinfo", "requestedtokentype", "subjecttokentype",
                "pagetoken", "nextpagetoken"),
)
