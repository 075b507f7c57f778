"""`rescind approve PLANFILE`: the second responder's signed approval of a plan."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "approve", help="sign a plan as the second responder (two-person rule)",
        description="Show a plan another responder wants to run and, once you confirm, "
        "print an approval token: your SSHSIG (namespace rescind-approval) over the plan "
        "file's exact bytes. Send the token to the responder who asked; they paste it into "
        "rescind, which checks it was made by another key over this very plan.",
        epilog="The plan file is <incident>/plans/<step>.<hash>.json, shown by the "
        "responder's rescind when the step needs two people.")
    p.add_argument("planfile", type=Path, help="the plan file to approve")
    p.add_argument("--key", type=Path, metavar="PATH",
                   help="sign with this private key file, or this .pub key's match in "
                        "ssh-agent (default: your rescind key, else ssh-agent)")
    p.add_argument("--email", help="your email, when --key is not your rescind key")
    p.add_argument("--yes", "-y", action="store_true",
                   help="do not ask for confirmation (the plan is still shown)")
    p.set_defaults(func=run)


def describe(plan: dict[str, Any], digest: str, planfile: Path) -> list[str]:
    """The plan as lines for the approver; every value from the file made visible, so
    a crafted plan cannot hide or rewrite a line with terminal escapes."""
    from rescind.textsafe import name_warning, visible

    step, action = plan.get("step_id", "?"), plan.get("action", "?")
    risk = plan.get("risk", "?")
    reversible = "reversible" if plan.get("reversible") else "NOT reversible"
    out = []
    if planfile.resolve().parent.name == "plans":
        out.append(f"incident:  {visible(planfile.resolve().parent.parent.name)}")
    out += [f"step:      {visible(step)}",
            f"action:    {visible(action)} (risk {visible(risk)}, {reversible})"]
    if plan.get("summary"):
        out.append(f"summary:   {visible(plan['summary'])}")
    targets = [str(t) for t in plan.get("targets") or []]
    out.append(f"targets:   {', '.join(map(visible, targets)) if targets else '(none listed)'}")
    out += [f"WARNING:   {w}" for w in map(name_warning, targets) if w]
    for ch in plan.get("changes") or []:
        if isinstance(ch, dict):
            out.append(f"change:    {visible(ch.get('target'))} {visible(ch.get('field'))}: "
                       f"{visible(repr(ch.get('before')))} -> {visible(repr(ch.get('after')))}")
    for w in plan.get("warnings") or []:
        out.append(f"warning:   {visible(w)}")
    out.append(f"plan hash: {digest}")
    return out


def _read_plan(path: Path) -> tuple[bytes, dict[str, Any]]:
    import json

    from rescind.errors import UsageError

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such plan file",
                         fix="pass the plan file the requesting responder named") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        plan = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a plan file (not JSON: {exc})") from None
    if not isinstance(plan, dict) or not plan.get("action") or not plan.get("step_id"):
        raise UsageError(f"{path}: not a plan file (no action and step_id)",
                         fix="pass the plans/<step>.<hash>.json file rescind wrote")
    return data, plan


def _canonical(data: bytes, plan: dict[str, Any]) -> bool:
    """Whether the bytes are exactly what rescind writes for this plan."""
    from pydantic import ValidationError

    from rescind.actions.base import Plan

    try:
        return Plan.model_validate(plan).canonical_bytes() == data
    except ValidationError:
        return False


def run(args: argparse.Namespace) -> int:
    import hashlib

    from rescind.errors import UsageError
    from rescind.record.approval import sign_approval
    from rescind.record.keys import load_signer
    from rescind.textsafe import visible

    data, plan = _read_plan(args.planfile)
    digest = hashlib.sha256(data).hexdigest()
    err = sys.stderr
    print("Plan to approve", file=err)
    for line in describe(plan, digest, args.planfile):
        print(f"  {line}", file=err)
    if not _canonical(data, plan):
        print("  note: this file is not byte-for-byte what rescind writes; the approval "
              "matches only these exact bytes", file=err)
    signer = load_signer(args.key, email=args.email)
    print(visible(f"Signing as {signer.name} <{signer.email}> {signer.fingerprint}"), file=err)
    if not args.yes:
        if sys.stdin is None or not sys.stdin.isatty():  # None: started with `<&-`
            raise UsageError("refusing to approve without a terminal to confirm on",
                             fix="run it in a terminal, or pass --yes after reading the plan")
        # The prompt goes to stderr: stdout carries only the token, ready to pipe.
        print("Approve this plan? Type 'approve' to sign: ", end="", file=err, flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer != "approve":
            print("Not approved; nothing was signed.", file=err)
            return 1
    token = sign_approval(data, signer)
    sys.stdout.write(token)
    sys.stdout.flush()
    print("Send the token above (BEGIN to END lines) to the responder who asked.", file=err)
    return 0
