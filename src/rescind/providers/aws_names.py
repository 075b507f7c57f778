"""IAM names from what a responder types: a name or an ARN.

Here, below actions and timeline sources, because both read user and role names.
"""

from __future__ import annotations

from rescind.errors import ActionError

ACCESS_KEY_PATTERN = r"^(AKIA|ASIA)[A-Z0-9]{16}$"


def iam_name(value: str, kind: str) -> str:
    """A user or role name from a name or an ARN (``arn:aws:iam::1:role/path/name``)."""
    value = value.strip()
    if value.startswith("arn:"):
        resource = value.split(":", 5)[-1]
        prefix, _, rest = resource.partition("/")
        if prefix != kind or not rest:
            raise ActionError(f"{value} is not an IAM {kind} ARN", retryable=False,
                              fix=f"give the {kind} name or its arn:aws:iam::ACCOUNT:{kind}/NAME")
        return rest.rsplit("/", 1)[-1]
    return value
