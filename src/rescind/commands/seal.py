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
    from rescind.engine.lock import IncidentLock
    from rescind.record.journal import Journal
    from rescind.record.keys import load_signer
    from rescind.record.sealing import close_is_trusted, finish_seal, is_closed
    from rescind.record.verify import verify_incident

    folder = incident_dir.resolve()
    if not (folder / "journal.jsonl").is_file():
        raise UsageError(f"{incident_dir} is not an incident folder (no journal.jsonl)",
                         fix="pass the folder `rescind run` created under incidents/")
    if not is_closed(folder):
        return None
    lock = IncidentLock(folder)
    lock.acquire()
    try:
        with Journal.open(folder / "journal.jsonl", repair_torn=True) as journal:
            if not close_is_trusted(folder, journal.entries()):
                return None
            before = verify_incident(folder)
            if before.status == "ok":
                print(f"rescind: {folder.name} is already sealed; nothing to do")
                return 0
            if before.status == "tampered":
                print("\n".join(before.summary()))
                print("rescind: not sealing a record that does not verify", flush=True)
                return 1
            signer = load_signer(key, email=email)
            result = finish_seal(journal, signer, folder.name)
    finally:
        lock.release()
    report = verify_incident(folder)
    print(f"rescind: sealed {folder}")
    print(f"  {result.anchor.line}")
    print("\n".join(report.summary()))
    return report.exit_code
