"""`rescind config show|check`: the settings in effect, and whether the credentials work."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rescind.providers.base import CHECK_LIMITS
from rescind.settings.cli import add_options

HIDDEN = "(set, hidden)"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "config", help="show the settings in effect, or check the credentials",
        description="Settings come from flags (--set TABLE.KEY=VALUE, --profile, --region, "
        "--break-glass, --approvers), then the environment (RESCIND_<TABLE>_<KEY>), then "
        "the config file (rescind.toml in rescind's config folder, or --config FILE), then "
        "defaults.")
    csub = p.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    show = csub.add_parser("show", help="print every setting, its value and where it came from",
                           description="Print every setting in effect and where it came "
                           "from. Secret values are never printed.")
    add_options(show)
    show.set_defaults(func=run_show)
    check = csub.add_parser(
        "check", help="test each configured provider's credentials, read-only",
        description="Build each configured provider (every installed one when none is "
        "configured) with a dry-run guard and ask who rescind is in each account or scope "
        "it can act in (AWS: sts:GetCallerIdentity with the chain's credentials and in "
        "each assume_roles account). Each request gets "
        f"{CHECK_LIMITS.connect_s:g} s to connect and {CHECK_LIMITS.read_s:g} s to answer, "
        "tried once: an unreachable endpoint fails in seconds. Run it before an incident, "
        "not during one.",
        epilog="Exit status: 0 when every check passed, 1 when any failed, 2 for settings "
               "problems.")
    add_options(check)
    check.set_defaults(func=run_check)


def _leaves(value: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, str(k)))]
    return [(path, value)]


def run_show(args: argparse.Namespace) -> int:
    from pydantic import SecretStr

    from rescind.settings.cli import effective
    from rescind.settings.config import tables

    settings = effective(args)
    where = str(settings.file) if settings.file else "none (defaults, environment and flags)"
    print(f"# config file: {where}")
    for table, model in tables().items():
        instance = model.model_validate(settings.values.get(table, {}))
        print(f"\n[{table}]")
        secrets = {p for p, v in _leaves(_raw(instance), (table,)) if isinstance(v, SecretStr)}
        for path, value in _leaves(instance.model_dump(mode="json"), (table,)):
            if len(path) == 1:
                print("(nothing set)")
                continue
            shown = HIDDEN if path in secrets and value is not None else _text(value)
            print(f"{'.'.join(path[1:])} = {shown}    # {settings.origin(path)}")
    return 0


def _raw(model: Any) -> dict[str, Any]:
    """A model's values without serialising, so SecretStr stays recognisable."""
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if hasattr(type(value), "model_fields"):
            value = _raw(value)
        elif isinstance(value, dict):
            value = {k: _raw(v) if hasattr(type(v), "model_fields") else v
                     for k, v in value.items()}
        out[name] = value
    return out


def _text(value: Any) -> str:
    import json

    return json.dumps(value) if value is not None else "(not set)"


def run_check(args: argparse.Namespace) -> int:
    import logging

    from rescind.providers import registry
    from rescind.settings.cli import effective

    settings = effective(args)
    configured = [n for n in registry.names() if n in settings.values] or registry.names()
    failed = 0
    # SDKs log a failure as a warning too (azure-identity's "get_token failed: ..."):
    # the check's own FAILED line says it once, with the fix.
    logging.disable(logging.WARNING)
    try:
        for name in configured:
            if not _check_one(name, settings.values.get(name, {})):
                failed += 1
    finally:
        logging.disable(logging.NOTSET)
    return 1 if failed else 0


def _check_one(name: str, table: Any) -> bool:
    """Print who rescind is wherever provider ``name`` can act, or why it cannot tell."""
    from rescind.errors import RescindError
    from rescind.modes import Mode
    from rescind.providers import registry
    from rescind.settings.validate import provider_settings
    from rescind.textsafe import visible  # a cloud's names and errors: no escape runs

    cls = registry.require(name)
    # Flushed: the FAILED lines go to stderr, and a piped stdout would print every
    # header after them.
    print(f"[{name}]", flush=True)
    provider = None
    try:
        provider = cls.from_settings(provider_settings(cls, table), Mode.DRY_RUN)
        provider.limit_for_check(CHECK_LIMITS)  # type: ignore[attr-defined]
        # The check only reads; the guard proves it at the transport.
        provider.install_dry_run_guard(lambda call: None)
        for place, who in provider.identities():  # type: ignore[attr-defined]
            print(f"  ok  {visible(place)}: {visible(who)}")
        return True
    except RescindError as exc:
        print(f"  FAILED  {visible(exc.message)}", file=sys.stderr)
        if exc.fix:
            print(f"    fix: {visible(exc.fix)}", file=sys.stderr)
    # An SDK failure the provider did not translate: one line, and the next provider
    # is still checked.
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0][:300]
        print(f"  FAILED  unexpected {type(exc).__name__}: {visible(first)}", file=sys.stderr)
    finally:
        if provider is not None:
            provider.close()
    return False
