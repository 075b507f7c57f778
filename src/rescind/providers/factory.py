"""Build the providers an incident needs from its settings.

The engine calls this with the clouds a runbook's actions use; in exercise mode it
has started the simulated cloud first and put its endpoints (and the simulated
responder's credentials) into ``settings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rescind.errors import UsageError
from rescind.modes import Mode
from rescind.providers.base import Provider


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.replace(",", " ").split() if v.strip()]
    return [str(v) for v in value]


def build_providers(clouds: set[str], mode: Mode,
                    settings: Mapping[str, Any]) -> dict[str, Provider]:
    """One provider per cloud in ``clouds``; an unknown cloud is a usage error.

    Settings read for AWS: aws_profile, aws_region, aws_endpoint_url,
    aws_cloudtrail_endpoint_url, aws_assume_roles, break_glass, incident_id,
    aws_concurrency, and aws_access_key_id / aws_secret_access_key /
    aws_session_token (only the simulated account passes those; real credentials
    come from the standard chain).
    """
    providers: dict[str, Provider] = {}
    for cloud in sorted(clouds):
        if cloud == "aws":
            from rescind.providers.aws import DEFAULT_WIDTH, AwsProvider

            credentials = None
            if settings.get("aws_access_key_id"):
                credentials = {"access_key_id": str(settings["aws_access_key_id"]),
                               "secret_access_key": str(settings.get("aws_secret_access_key", "")),
                               "session_token": settings.get("aws_session_token") or ""}
                if not credentials["session_token"]:
                    del credentials["session_token"]
            providers["aws"] = AwsProvider(
                profile=settings.get("aws_profile") or None,
                region=str(settings.get("aws_region") or "us-east-1"),
                endpoint_url=settings.get("aws_endpoint_url") or None,
                cloudtrail_endpoint_url=settings.get("aws_cloudtrail_endpoint_url") or None,
                assume_roles=settings.get("aws_assume_roles") or {},
                break_glass=_strings(settings.get("break_glass")),
                incident_id=settings.get("incident_id") or None,
                width=int(settings.get("aws_concurrency") or DEFAULT_WIDTH),
                credentials=credentials)
        elif cloud == "vault":
            from rescind.providers.vault import VaultProvider

            providers["vault"] = VaultProvider.from_settings(
                VaultProvider.Settings.model_validate(settings.get("vault") or {}), mode)
        else:
            raise UsageError(f"no provider for cloud {cloud!r} in this version of rescind",
                             fix="remove its steps from the runbook, or use a newer rescind")
    if mode is Mode.EXERCISE and "aws" in providers and not settings.get("aws_endpoint_url"):
        raise UsageError("exercise mode needs the simulated AWS account's endpoint",
                         fix="start it with rescind.sandbox.aws.start_aws_sandbox and pass "
                             "aws_endpoint_url in the settings")
    return providers
