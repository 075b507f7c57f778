"""`rescind score DIR`: the score table of an exercise, from its journal."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "score", help="print the score of an exercise",
        description="Print the score of an exercise-mode incident, computed from its journal: "
        "time to the first containment change and to contain every compromised credential, "
        "time per phase, approvals' waiting time, skipped steps, injects noticed or missed, "
        "and actions the live identity could not have run. The same table opens "
        "after-action.md, written when the exercise closes. Exit 0: printed; 2: not an "
        "incident folder, or an incident that is not an exercise.")
    p.add_argument("incident", type=Path, metavar="DIR", help="the incident folder")
    p.add_argument("--json", action="store_true", help="print the score as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rescind.record.after_action import table
    from rescind.record.score import load_score
    from rescind.textsafe import visible

    score = load_score(args.incident)
    if args.json:
        print(json.dumps(asdict(score), indent=2, ensure_ascii=False))
        return 0
    name = score.scenario.get("name") or "no scenario file"
    print(visible(f"{score.incident}: exercise of {score.runbook}, scenario {name}"
                  + ("" if score.closed else " (not closed yet: the score so far)")))
    rows = table(score)
    width = max(len(k) for k, _ in rows)
    for what, result in rows:
        print(visible(f"{what:<{width}}  {' '.join(result.split())}"))
    return 0
