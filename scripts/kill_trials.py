"""Random kill -9 of live incidents against a loopback AWS, then resume: the long run.

    .venv/bin/python scripts/kill_trials.py [--trials 100] [--seed 1] [--work DIR]

Prints one line a trial and the totals that docs/reliability.md quotes. A trial fails
if the account does not end as an uninterrupted run leaves it, if a mutating request
reached the server twice, or if the record does not verify intact and sealed.
Exit 0 when every trial passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("NO_GCE_CHECK", "true")

from tests.reliability.killrun import Harness  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the incidents here (default: a temporary folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="rescind-kill-"))
    harness = Harness(work)
    started = time.monotonic()
    reference = harness.prepare()
    if not reference.ok:
        print(f"the uninterrupted run failed: {reference.problems}")
        return 1
    print(f"reference: {harness.reference_lines} journal lines, uninterrupted, "
          f"{time.monotonic() - started:.1f} s")
    rng = random.Random(args.seed)
    failed = kills = seal_kills = resume_kills = runs = 0
    for n in range(args.trials):
        trial = harness.incident(f"trial-{n:03d}", harness.random_kills(rng))
        kills += len(trial.kills)
        resume_kills += max(0, len(trial.kills) - 1)
        seal_kills += sum("SHA256SUMS" in k or f"line {harness.reference_lines} " in k
                          for k in trial.kills)
        runs += trial.runs
        failed += not trial.ok
        print(f"{trial.name}: {'ok ' if trial.ok else 'FAIL'} runs={trial.runs} "
              f"kills={'; '.join(trial.kills) or '-'}"
              + "".join(f"\n    {p}" for p in trial.problems), flush=True)
    print(f"\n{args.trials} trials, {kills} kills ({resume_kills} during a resume, "
          f"{seal_kills} inside the seal), {runs} runs; {failed} failed; "
          f"{time.monotonic() - started:.0f} s; incidents in {work}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
