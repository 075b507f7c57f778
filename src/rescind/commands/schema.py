"""`rescind schema [--out FILE]`: the runbook JSON Schema, for editors."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rescind.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "schema", help="print the runbook JSON Schema (for editor completion)",
        description="Print the JSON Schema (draft 2020-12) of rescind runbooks, including "
        "every installed action and its parameters, so an editor can complete and check "
        "runbooks. With the YAML language server, put this first in a runbook: "
        "# yaml-language-server: $schema=PATH/TO/runbook.schema.json")
    p.add_argument("--out", "-o", type=Path, metavar="FILE",
                   help="write the schema to FILE instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rescind.runbook.schema import runbook_json_schema

    text = json.dumps(runbook_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror}",
                         fix="choose a writable path") from None
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
