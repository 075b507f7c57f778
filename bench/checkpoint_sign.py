"""Checkpoint signing time on a 10,000-line journal, beside its parts.

A checkpoint appends one entry, takes the journal's running SHA-512 through it
(kept up to date by every append, so nothing is re-read or re-hashed), signs
(Ed25519, SSHSIG) and writes the signature file atomically. Printed beside: the
bare SHA-512 of the same bytes (what a checkpoint cost before the running hash)
and a single journal append, measured in the same run.

    python bench/checkpoint_sign.py [--lines 10000] [--repeat 30]   # also 100 / 100000
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rescind.record.checkpoint import checkpoint
from rescind.record.journal import Journal
from rescind.record.keys import KeySigner
from rescind.record.verify import verify_incident


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    signer = KeySigner(Ed25519PrivateKey.generate(), name="Bench", email="bench@example.com",
                       source="memory")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "incident"
        journal = Journal.create(folder / "journal.jsonl")
        # Filled with group commits: building the journal is not what is measured.
        batch = [("action.intent", {"step": "deactivate", "plan_hash": f"{i:064x}",
                                    "targets": ["AKIAIOSFODNN7EXAMPLE"]}) for i in range(500)]
        while journal.next_seq < args.lines - 1:
            journal.append_many(batch[:args.lines - 1 - journal.next_seq])
        sign_ns, hash_ns, append_ns = [], [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter_ns()
            anchor = checkpoint(journal, signer, "bench", "phase")
            t1 = time.perf_counter_ns()
            data = journal.bytes_through(anchor.seq)
            t2 = time.perf_counter_ns()
            hashlib.sha512(data).digest()
            t3 = time.perf_counter_ns()
            journal.append("note", {"text": "between checkpoints"})
            t4 = time.perf_counter_ns()
            sign_ns.append(t1 - t0)
            hash_ns.append(t3 - t2)
            append_ns.append(t4 - t3)
        size = len(journal.bytes_through(anchor.seq))
        lines = journal.next_seq
        journal.close()
        t0 = time.perf_counter_ns()
        report = verify_incident(folder)
        verify_ms = (time.perf_counter_ns() - t0) / 1e6
    ms = statistics.median(sign_ns) / 1e6
    print(f"journal:                       {lines} lines, {size / 1e6:.2f} MB at the last "
          "checkpoint")
    print(f"checkpoint (append+sign+write), median of {args.repeat}: {ms:.2f} ms")
    print(f"  bare SHA-512 of the same bytes: {statistics.median(hash_ns) / 1e6:.2f} ms")
    print(f"  one journal append:             {statistics.median(append_ns) / 1e6:.2f} ms")
    print(f"  ratio checkpoint/append:        {ms / (statistics.median(append_ns) / 1e6):.1f}x")
    print(f"verify_incident of the folder ({report.checkpoints_verified} checkpoints, "
          f"{report.status}): {verify_ms:.0f} ms")
    return 0 if report.status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
