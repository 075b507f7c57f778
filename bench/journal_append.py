"""Journal append cost (append + hash + fsync) beside a bare fsync'd append.

Both run in the same process, interleaved entry by entry so that disk noise falls
on both alike, each into its own file in the same folder. The bare baseline writes
a line of the same size with os.write + os.fsync and nothing else. Goal
(issue 3): median journal append within 1.2x of the baseline.

    python bench/journal_append.py [--entries 10000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from rescind.record.journal import Journal


def entry_data(i: int) -> dict[str, object]:
    # The size and shape of a typical engine entry (action.intent).
    return {"step": "deactivate", "plan_hash": f"{i:064x}",
            "targets": ["AKIAIOSFODNN7EXAMPLE"], "note": "contain phase"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write (default: a temp folder; pick the disk "
                             "incidents live on)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        journal = Journal.create(folder / "incident" / "journal.jsonl")
        sample = journal.append("bench.start", entry_data(0)).line
        bare_fd = os.open(folder / "bare.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        line = sample  # same length as a journal line
        ours, bare = [], []
        clock = time.perf_counter_ns
        for i in range(args.entries):
            data = entry_data(i)
            t0 = clock()
            journal.append("action.intent", data)
            t1 = clock()
            os.write(bare_fd, line)
            os.fsync(bare_fd)
            t2 = clock()
            ours.append(t1 - t0)
            bare.append(t2 - t1)
        os.close(bare_fd)
        journal.close()
    m_ours, m_bare = statistics.median(ours), statistics.median(bare)
    print(f"entries:                     {args.entries} ({len(sample)} bytes a line)")
    print(f"journal append (median):     {m_ours / 1000:.1f} us  "
          f"(p90 {statistics.quantiles(ours, n=10)[-1] / 1000:.1f} us)")
    print(f"bare write+fsync (median):   {m_bare / 1000:.1f} us  "
          f"(p90 {statistics.quantiles(bare, n=10)[-1] / 1000:.1f} us)")
    ratio = m_ours / m_bare
    print(f"ratio journal/bare:          {ratio:.3f}x  (goal <= 1.2x: "
          f"{'met' if ratio <= 1.2 else 'NOT met'})")
    print(f"overhead per append:         {(m_ours - m_bare) / 1000:.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
