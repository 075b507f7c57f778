"""User-facing errors: each carries one clear message and, where there is one, the fix.

Anything a user can cause (bad runbook, missing permission, throttling, expired
token, no keyring) is raised as a RescindError subclass; the CLI prints it as one
line and exits non-zero, never with a traceback.
"""

from __future__ import annotations

from enum import StrEnum


class RescindError(Exception):
    """Base for errors a user can cause and fix."""

    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} ({self.fix})" if self.fix else self.message


class UsageError(RescindError):
    """Bad command-line usage or bad input values."""

    exit_code = 2


class IncidentLocked(RescindError):
    """Another process holds the incident folder."""

    exit_code = 3


class ApprovalRefused(RescindError):
    """An approval did not match the plan, the name, or a trusted key."""


class DryRunViolation(RescindError):
    """A mutating call was attempted while the dry-run guard is installed."""


class ErrorKind(StrEnum):
    """Why an action failed: the engine and UI offer choices by kind."""

    PERMISSION = "permission"  # rescind's identity may not make a call
    EXPIRED = "expired"        # credentials expired or missing: log in again
    CONFIG = "config"          # a profile, region or setting is wrong
    NETWORK = "network"        # the cloud could not be reached
    THROTTLED = "throttled"    # the cloud said slow down, after retries
    NOT_FOUND = "not-found"    # a target does not exist (any more)
    CONFLICT = "conflict"      # a target changed since planning: re-plan, re-approve
    REFUSED = "refused"        # a guardrail refused the targets (cap, break-glass, self)
    DECLINED = "declined"      # the responder declined the plan
    ERROR = "error"            # anything else


class ActionError(RescindError):
    """An action failed in a way the responder can act on; ``kind`` says how.

    ``kind`` takes an :class:`ErrorKind` or its value; an unknown value is a bug
    (ValueError), not a new kind.
    """

    def __init__(self, message: str, *, kind: ErrorKind | str = ErrorKind.ERROR,
                 fix: str | None = None, retryable: bool = True) -> None:
        super().__init__(message, fix=fix)
        self.kind = ErrorKind(kind)
        self.retryable = retryable
