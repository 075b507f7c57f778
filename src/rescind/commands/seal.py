"""`rescind seal DIR`: finish sealing a closed incident whose seal a crash interrupted."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rescind.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "seal", help="finish sealing an incident whose seal was interrupted",
        description="Complete the seal of a closed incident after a crash: sign the close "
        "checkpoint, write report.md, allowed_signers, SHA256SUMS.sig and SHA256SUMS. "
        "Does whatever is left and nothing twice; a sealed incident is left as it is. "
        "`rescind resume` does the same for a closed incident.")
    p.add_argument("incident", type=Path, metavar="DIR", help="the incident folder")
    p.add_argument("--key", type=Path, metavar="PATH",
                   help="signing key (default: the key from `rescind keys init`)")
    p.add_argument("--email", metavar="EMAIL",
                   help="your email, when --key is not the key from `rescind keys init`")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    code = complete_seal(args.incident, key=args.key, email=args.email)
    if code is None:
        raise UsageError(f"incident {args.incident.name} is not closed: there is no seal "
                         "to finish",
                         fix=f"continue it with `rescind resume {args.incident}`")
    return code


def complete_seal(incident_dir: Path, *, key: Path | None, email: str | None) -> int | None:
    """Finish the seal and print where the record is; None when the journal has no
    trusted close (an open incident, or a close among unsigned lines: resume it)."""
    from rescind.engine.incidents import complete_seal as complete

    outcome = complete(incident_dir, key=key, email=email)
    if outcome is None:
        return None
    folder = incident_dir.resolve()
    if outcome.status == "already":
        print(f"rescind: {folder.name} is already sealed; nothing to do")
        return 0
    if outcome.status == "tampered":
        print("\n".join(outcome.report.summary()))
        print("rescind: not sealing a record that does not verify", flush=True)
        return 1
    assert outcome.result is not None
    print(f"rescind: sealed {folder}")
    print(f"  {outcome.result.anchor.line}")
    print("\n".join(outcome.report.summary()))
    return outcome.report.exit_code
