"""`rescind verify DIR`: check an incident record's chain, signatures and seal."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "verify", help="check an incident record for tampering",
        description="Check an incident folder: every journal line's hash link and seq, "
        "every checkpoint signature, approval signatures, SHA256SUMS against every file, "
        "the seal's signature, and that the keys are in allowed_signers. "
        "Exit 0: intact; 1: tampered (the first bad line is named, or a signature is by "
        "a key the journal does not record for a responder); 2: incomplete or unconfirmed "
        "(a crash tore the journal's last line, sealing did not finish - `rescind seal DIR` "
        "completes it - or an open incident has lines no checkpoint signed yet), or not an "
        "incident folder.",
        epilog="Stock tools check the same (see report.md in the folder): "
        "ssh-keygen -Y verify ... < SHA256SUMS; sha256sum -c SHA256SUMS.")
    p.add_argument("incident", type=Path, metavar="DIR", help="the incident folder")
    p.add_argument("--allowed-signers", type=Path, metavar="FILE",
                   help="your team's own allowed_signers file (default: the copy in the "
                        "folder, which whoever rewrote a record could also have rewritten)")
    p.add_argument("--anchor", action="append", default=[], metavar="LINE",
                   help="an ANCHOR line kept outside the folder (ticket, chat); detects "
                        "truncation or rewriting after it; repeat for several")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rescind.record.verify import verify_incident

    report = verify_incident(args.incident, allowed_signers=args.allowed_signers,
                             anchors=args.anchor)
    if args.json:
        print(json.dumps(asdict(report) | {"exit_code": report.exit_code}, indent=2))
    else:
        print("\n".join(report.summary()))
    return report.exit_code
