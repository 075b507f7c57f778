"""botocore failures as ActionErrors: one clear message, the kind, and the fix.

The engine offers retry / skip / abort by ``kind``; the message names what was
refused and the fix says what to change (the missing IAM action, the SSO login, the
profile). botocore is imported inside the function: it is loaded already whenever
there is a botocore exception to translate.
"""

from __future__ import annotations

import re

from rescind.errors import ActionError

PERMISSION_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess",
    "AuthorizationError", "Forbidden"})
EXPIRED_CODES = frozenset({
    "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
    "InvalidToken", "TokenRefreshRequired", "SignatureDoesNotMatch", "InvalidAccessKeyId",
    "AuthFailure", "IncompleteSignature"})
THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "TooManyRequests", "TooManyRequestsException",
    "RequestLimitExceeded", "SlowDown", "RequestThrottled", "RequestThrottledException",
    "ProvisionedThroughputExceededException", "Rate exceeded"})
NOT_FOUND_CODES = frozenset({
    "NoSuchEntity", "NoSuchEntityException", "ResourceNotFoundException", "NotFound",
    "NoSuchKey", "NoSuchBucket", "TrailNotFoundException"})
TRANSIENT_CODES = frozenset({
    "ServiceFailure", "ServiceFailureException", "InternalFailure", "InternalError",
    "InternalServiceError", "InternalServiceErrorException", "ServiceUnavailable",
    "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException"})

# "User: arn:... is not authorized to perform: iam:UpdateAccessKey on resource: arn:..."
_DENIED = re.compile(r"not authorized to perform:? (?P<action>[\w-]+:[\w*]+)"
                     r"(?: on resource:? (?P<resource>\S+?))?(?:[ .,;]|$)")
_CALLER = re.compile(r"^User: (?P<caller>arn:\S+) is not authorized")


def _relogin_fix(profile: str | None) -> str:
    if profile:
        return (f"run `aws sso login --profile {profile}` (or refresh that profile's "
                "credentials), then retry")
    return ("refresh the credentials (`aws sso login`, or export a fresh AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN), then retry")


def translate_error(exc: BaseException, *, action: str | None = None,
                    resource: str | None = None, profile: str | None = None) -> ActionError:
    """Map a botocore exception to an ActionError with kind, message and fix.

    ``action`` is the IAM action of the failed call (``iam:UpdateAccessKey``) and
    ``resource`` what it acted on (an ARN); both are named in permission errors.
    Anything that is not a botocore error becomes kind "error".
    """
    if isinstance(exc, ActionError):
        return exc
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        return _client_error(exc, action=action, resource=resource, profile=profile)
    what = action or "the AWS call"
    if isinstance(exc, (bx.SSOTokenLoadError, bx.UnauthorizedSSOTokenError,
                        bx.TokenRetrievalError)):
        return ActionError(f"{what}: the SSO session has expired or is missing",
                           kind="expired", fix=_relogin_fix(profile))
    if isinstance(exc, bx.ProfileNotFound):
        return ActionError(f"AWS profile {profile or str(exc)!r} does not exist",
                           kind="config", retryable=False,
                           fix="`aws configure list-profiles` lists the profiles; set aws.profile "
                               "(or --profile) to one of them")
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return ActionError(f"{what}: no AWS credentials were found", kind="config",
                           fix="log in (`aws sso login --profile NAME` and --profile NAME), or "
                               "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then retry")
    if isinstance(exc, bx.CredentialRetrievalError):
        return ActionError(f"{what}: the credentials could not be loaded ({exc})",
                           kind="expired", fix=_relogin_fix(profile))
    if isinstance(exc, bx.NoRegionError):
        return ActionError(f"{what}: no AWS region is configured", kind="config",
                           retryable=False,
                           fix="set aws.region (or --region, or AWS_DEFAULT_REGION)")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError,
                        bx.ReadTimeoutError, bx.ConnectionClosedError)):
        return ActionError(f"{what}: cannot reach AWS ({exc})", kind="network",
                           fix="check the network (VPN, proxy, endpoint), then retry")
    if isinstance(exc, bx.ParamValidationError):
        return ActionError(f"{what}: invalid request parameters: {exc}", retryable=False)
    if isinstance(exc, bx.BotoCoreError):
        return ActionError(f"{what}: {exc}")
    return ActionError(f"{what}: unexpected {type(exc).__name__}: {exc}")


def _client_error(exc: BaseException, *, action: str | None, resource: str | None,
                  profile: str | None) -> ActionError:
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {}) or {}
    code = str(error.get("Code", "") or "")
    message = str(error.get("Message", "") or "").strip()
    operation = getattr(exc, "operation_name", "") or ""
    what = action or operation or "the AWS call"
    if code in PERMISSION_CODES:
        match = _DENIED.search(message)
        needed = (match.group("action") if match else None) or what
        # AWS's own message names the exact resource (with its IAM path); prefer it.
        on = (match.group("resource") if match else None) or resource
        caller = _CALLER.search(message)
        target = f" on {on}" if on else ""
        who = caller.group("caller") if caller else "the caller"
        return ActionError(f"permission denied: needs {needed}{target} ({code}: {message})",
                           kind="permission",
                           fix=f"grant {needed}{target} to {who}, or run as a principal "
                               "that has it; then retry")
    if code in EXPIRED_CODES:
        why = ("the credentials were rejected (the secret key does not match)"
               if code == "SignatureDoesNotMatch" else "the credentials have expired or are "
               "not valid")
        return ActionError(f"{what}: {why} ({code})", kind="expired", fix=_relogin_fix(profile))
    if code in THROTTLE_CODES:
        return ActionError(f"{what}: AWS is throttling requests ({code}: {message})",
                           kind="throttled",
                           fix="wait a minute and retry; rescind already retried with backoff")
    if code in NOT_FOUND_CODES:
        on = f" {resource}" if resource else ""
        return ActionError(f"{what}: not found{on} ({code}: {message})", kind="not-found",
                           retryable=False,
                           fix="it was deleted or renamed since; retry to re-plan against "
                               "what exists now, or skip")
    retryable = code in TRANSIENT_CODES
    return ActionError(f"{what} failed ({code or 'error'}: {message})", retryable=retryable,
                       fix="retry" if retryable else None)
