"""User-facing errors: each carries one clear message and, where there is one, the fix.

Anything a user can cause (bad runbook, missing permission, throttling, expired
token, no keyring) is raised as a RescindError subclass; the CLI prints it as one
line and exits non-zero, never with a traceback.
"""

from __future__ import annotations


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


class ActionError(RescindError):
    """An action failed in a way the responder can act on.

    ``kind`` lets the engine and UI offer the right choices: "permission",
    "expired", "throttled", "not-found", "conflict" (target changed since
    planning) or "error".
    """

    def __init__(self, message: str, *, kind: str = "error", fix: str | None = None,
                 retryable: bool = True) -> None:
        super().__init__(message, fix=fix)
        self.kind = kind
        self.retryable = retryable
