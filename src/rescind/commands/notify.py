"""`rescind notify`: store a channel secret in the OS keyring."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "notify", help="manage notification channel secrets",
        description="Channel secrets (Slack webhook URLs and bot tokens, Teams workflow URLs, "
        "PagerDuty routing keys, SMTP passwords, Jira API tokens, webhook HMAC keys) live in "
        "the OS keyring or the environment ($RESCIND_SECRET_<NAME>), never in rescind.toml "
        "or a runbook. See docs/notify.md.")
    p.set_defaults(func=lambda _args: _usage(p))
    notify_sub = p.add_subparsers(dest="notify_command", metavar="COMMAND")
    add = notify_sub.add_parser(
        "add-secret", help="store a channel secret in the OS keyring",
        description="Store secret NAME (the name a [notify] recipient gives as secret = "
        "\"NAME\") in the OS keyring. The value is read without echo on a terminal, else "
        "as one line of standard input; it is never an argument, so it stays out of ps "
        "and the shell history.")
    add.add_argument("name", metavar="NAME", help="the secret's name, e.g. slack-sec")
    add.set_defaults(func=run_add_secret)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_add_secret(args: argparse.Namespace) -> int:
    import getpass

    from pydantic import TypeAdapter, ValidationError

    from rescind.errors import UsageError
    from rescind.notify.secrets import env_var, store_secret
    from rescind.notify.settings import SecretName

    try:
        name = TypeAdapter(SecretName).validate_python(args.name)
    except ValidationError:
        raise UsageError(f"{args.name!r} is not a secret name",
                         fix="use letters, digits, '.', '_' and '-' (e.g. slack-sec)") from None
    if sys.stdin is not None and sys.stdin.isatty():
        value = getpass.getpass(f"value of {name} (not echoed): ")
    else:
        value = sys.stdin.readline().rstrip("\r\n") if sys.stdin is not None else ""
    if not value:
        raise UsageError("no value given", fix=f"type it at the prompt, or pipe one line: "
                                               f"`... | rescind notify add-secret {name}`")
    where = store_secret(name, value)
    print(f"stored secret {name} in the {where}")
    print(f"  ${env_var(name)}, when set, takes precedence over it")
    return 0
