"""The AWS dry-run guard: a botocore ``before-call`` hook that only lets reads through.

Reads are recognised by an explicit allow-list of operation-name prefixes (plus
``sts:AssumeRole``, which only obtains credentials to read another account, and less
the few read-named operations that mint credentials or change something); every
other operation is answered with a synthetic empty response instead of a request,
and reported as a BlockedCall with its parameters, secrets redacted. Being a
transport hook, it also stops a mutating call an action makes by mistake.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rescind.providers import aws_redaction  # noqa: F401  (registers AWS's secret names)
from rescind.providers.base import BlockedCall, BlockedCallRecorder
from rescind.redaction import redact

# An operation is a read if its name is one of these prefixes followed by a capital
# letter (GetUser, ListAccessKeys, LookupEvents). Everything else is blocked, including
# Generate*, BatchGet*, Search*, Scan*: conservative by construction.
READ_PREFIXES: tuple[str, ...] = ("Get", "List", "Describe", "Lookup", "Head", "Simulate")
READ_OPERATIONS: frozenset[str] = frozenset({"sts:AssumeRole"})
# Named like reads, but they change something or mint credentials: blocked too.
NOT_READ_OPERATIONS: frozenset[str] = frozenset({
    # new temporary credentials or tokens for a principal
    "sts:GetSessionToken", "sts:GetFederationToken", "sts:GetWebIdentityToken",
    "sts:GetDelegatedAccessToken", "awsssoportal:GetRoleCredentials",
    "ecr:GetAuthorizationToken", "ecr-public:GetAuthorizationToken",
    "codeartifact:GetAuthorizationToken", "redshift-serverless:GetCredentials",
    "cognito-identity:GetCredentialsForIdentity", "cognito-identity:GetOpenIdToken",
    "cognito-identity:GetOpenIdTokenForDeveloperIdentity",
    # creates an identity, a database user (AutoCreate), a message, a change token
    "cognito-identity:GetId", "redshift:GetClusterCredentials",
    "cognito-idp:GetUserAttributeVerificationCode", "waf:GetChangeToken",
    "waf-regional:GetChangeToken",
})

_GUARD_ID = "rescind-dry-run-guard"
_PARAMS_KEY = "rescind.api_params"


def iam_prefix(service_model: Any) -> str:
    """The IAM action prefix of a botocore service model (iam, sts, secretsmanager)."""
    metadata = getattr(service_model, "metadata", {}) or {}
    return str(metadata.get("signingName") or metadata.get("endpointPrefix")
               or service_model.service_name)


def is_read_operation(service: str, operation: str) -> bool:
    """Whether ``service:operation`` is on the dry-run allow-list."""
    if f"{service}:{operation}" in READ_OPERATIONS:
        return True
    if f"{service}:{operation}" in NOT_READ_OPERATIONS:
        return False
    for prefix in READ_PREFIXES:
        if (operation.startswith(prefix) and len(operation) > len(prefix)
                and operation[len(prefix)].isupper()):
            return True
    return False


def is_read_query(service: str, operation: str, params: Mapping[str, Any]) -> bool:
    """A query that only reads: one SELECT statement (timeline pulls run these), to
    Athena or CloudTrail Lake. DDL, INSERT, UNLOAD and CTAS write, so they stay blocked."""
    field = _QUERY_FIELDS.get(f"{service}:{operation}")
    if field is None:
        return False
    if params.get("DeliveryS3Uri"):  # CloudTrail Lake would write the results to a bucket
        return False
    sql = str(params.get(field, "")).strip().rstrip(";")
    return sql[:7].upper() == "SELECT " and ";" not in sql and " INTO " not in sql.upper()


# The read-only-but-POST query operations, and the parameter holding their SQL.
_QUERY_FIELDS = {"athena:StartQueryExecution": "QueryString",
                 "cloudtrail:StartQuery": "QueryStatement"}


def _readable(value: Any) -> Any:
    """API parameters as a dry-run report shows them, before redaction: a document held
    as JSON text (a policy) becomes an object, and what JSON cannot hold becomes text."""
    if isinstance(value, Mapping):
        return {str(k): _readable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_readable(v) for v in value]
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return _readable(json.loads(value))
        except ValueError:
            return value
    if isinstance(value, str | int | float | bool | bytes | bytearray) or value is None:
        return value
    return str(value)


class DryRunGuard(BlockedCallRecorder):
    """Registered on botocore event emitters; blocks non-read calls and reports them."""

    def attach(self, emitter: Any) -> None:
        """Register on a session's or a client's event emitter (idempotent)."""
        emitter.register_first("before-parameter-build", self._remember_params,
                               unique_id=f"{_GUARD_ID}-params")
        emitter.register_first("before-call", self._before_call, unique_id=_GUARD_ID)

    def _remember_params(self, params: Mapping[str, Any], context: dict[str, Any],
                         **_: Any) -> None:
        # before-call only sees the serialized request; keep the API parameters.
        context[_PARAMS_KEY] = dict(params)

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        service = iam_prefix(model.service_model)
        if is_read_operation(service, model.name) or is_read_query(
                service, model.name, context.get(_PARAMS_KEY, {})):
            return None
        call = BlockedCall(provider="aws", operation=f"{service}:{model.name}",
                           params=redact(_readable(context.get(_PARAMS_KEY, {}))))
        self.record(call)
        return _synthetic_response()


def _synthetic_response() -> tuple[Any, dict[str, Any]]:
    from botocore.awsrequest import AWSResponse

    http = AWSResponse("https://dry-run.invalid/", 200, {}, None)
    parsed = {"ResponseMetadata": {"RequestId": "rescind-dry-run", "HTTPStatusCode": 200,
                                   "HTTPHeaders": {}, "RetryAttempts": 0}}
    return http, parsed
