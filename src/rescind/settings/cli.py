"""The settings options every command that talks to a cloud takes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# Older flags that stay as short ways to set one setting: (flag dest, setting path).
ALIASES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("profile", ("aws", "profile"), "--profile"),
    ("region", ("aws", "region"), "--region"),
    ("break_glass", ("aws", "break_glass"), "--break-glass"),
    ("approvers", ("approvers", "allowed_signers"), "--approvers"),
)


def add_options(p: argparse.ArgumentParser, *, aliases: bool = True) -> None:
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="settings file (default: rescind.toml in rescind's config folder)")
    p.add_argument("--set", dest="settings", action="append", default=[],
                   metavar="TABLE.KEY=VALUE",
                   help="a setting, e.g. --set aws.regions=us-east-1,eu-west-1; repeat for "
                        "several (overrides the environment and the file)")
    if not aliases:
        return
    p.add_argument("--profile", metavar="NAME", help="AWS profile (same as --set aws.profile=)")
    p.add_argument("--region", metavar="NAME",
                   help="AWS home region, default us-east-1 (same as --set aws.region=)")
    p.add_argument("--break-glass", action="append", default=[], metavar="PRINCIPAL",
                   help="a principal rescind must never revoke; repeat for several "
                        "(same as --set aws.break_glass=)")
    p.add_argument("--approvers", type=Path, metavar="FILE",
                   help="allowed_signers file of keys trusted for two-person approvals "
                        "(same as --set approvers.allowed_signers=)")


def effective(args: argparse.Namespace) -> Any:
    """The resolved settings (rescind.settings.config.Effective) for a command's options."""
    from rescind.settings.config import resolve

    flags = []
    for dest, path, flag in ALIASES:
        value = getattr(args, dest, None)
        if value:
            flags.append((path, str(value) if isinstance(value, Path) else value, flag))
    return resolve(config=getattr(args, "config", None), sets=getattr(args, "settings", []),
                   flags=flags)


def session_settings(args: argparse.Namespace) -> dict[str, Any]:
    """An incident's settings from a command's options, the environment and the file."""
    from rescind.settings.config import session_settings as from_effective

    return from_effective(effective(args))
