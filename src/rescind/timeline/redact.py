"""Strip secrets from audit records before they reach a timeline, an export or evidence.

CloudTrail itself hides most secrets, but not all sources do (and some fixtures or
third-party exports carry a ``SecretAccessKey``). It does record external ids: in
AssumeRole's ``requestParameters.externalId`` and inside the trust policies of
CreateRole / UpdateAssumeRolePolicy, which travel as JSON text. Access key *ids*
stay: they are what a responder traces. Values are replaced by CloudTrail's own marker.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

REDACTED = "HIDDEN_DUE_TO_SECURITY_REASONS"
# Compared after lower-casing and removing everything but letters and digits.
_SECRET_KEYS = frozenset({
    "secretaccesskey", "awssecretaccesskey", "sessiontoken", "securitytoken",
    "password", "newpassword", "oldpassword", "passwd", "secretstring", "secretbinary",
    "privatekey", "privatekeydata", "clientsecret", "secret", "secretvalue", "token",
    "accesstoken", "refreshtoken", "idtoken", "credentialsecret", "samlassertion",
    "webidentitytoken", "authorization", "externalid", "stsexternalid",
})
# A value that is itself an AWS secret access key (40 chars base64-ish) next to a key id.
_INLINE_SECRET = re.compile(r"(?i)(aws_secret_access_key|secretaccesskey)([\"'=:\s]+)[^\s\"',}]+")


@functools.lru_cache(maxsize=4096)  # field names repeat in every record of a page
def is_secret_key(name: str) -> bool:
    return "".join(ch for ch in name.lower() if ch.isalnum()) in _SECRET_KEYS


def redact(value: Any) -> Any:
    """A deep copy of ``value`` with every secret-named field's value replaced."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and is_secret_key(key) and item not in (None, ""):
                out[key] = REDACTED
            elif key == "CloudTrailEvent" and isinstance(item, str):
                out[key] = redact_json_text(item)
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        if value[:1] in ("{", "["):
            # A policy document held as text: redacted inside, left as it was otherwise.
            try:
                parsed = json.loads(value)
            except ValueError:
                pass
            else:
                cleaned = redact(parsed)
                if cleaned != parsed:
                    return json.dumps(cleaned, separators=(",", ":"))
        return _INLINE_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", value)
    return value


def redact_json_text(text: str) -> str:
    """Redact inside a JSON document held as a string (LookupEvents' CloudTrailEvent)."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return str(redact(text))
    return json.dumps(redact(parsed), separators=(",", ":"))
