"""The headless front end: the engine driven from a plain terminal, or automatically.

``TerminalResponder`` asks on the terminal; ``ExerciseResponder`` (``--auto-approve``,
exercise mode only) acknowledges, answers with defaults and approves by itself, the
second approver being a throwaway key made for the exercise.

Everything a runbook, a plan or a cloud supplies is printed through
``rescind.textsafe.visible``: one-line fields where they are formatted, and every
line once more as it is written.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import secrets
import shlex
import sys
from typing import Any, TextIO

from rescind.actions.base import Plan
from rescind.engine.responder import (
    Aborted,
    Approval,
    ApprovalRequest,
    ApprovalResponse,
    EngineEvent,
    EventKind,
    FailureChoice,
    StepState,
    is_nested,
    secret_lines,
)
from rescind.errors import ActionError
from rescind.textsafe import name_warning, visible

EXERCISE_ANSWER = "(exercise)"
_STDIN_CLOSED = ("standard input closed; use --auto-approve in exercise mode "
                 "or run in a terminal")


def describe_plan(plan: Plan) -> list[str]:
    lines = [f"plan {plan.digest[:12]}  {visible(plan.action)}  risk={plan.risk.value}  "
             f"{'reversible' if plan.reversible else 'IRREVERSIBLE'}"]
    if plan.summary:
        lines.append(f"  {visible(plan.summary)}")
    for change in plan.changes:
        if change.before is None and isinstance(change.after, str) and "\n" in change.after:
            # A rendered message: shown whole, since that text is what is approved.
            lines.append(f"  {visible(change.target)}: {visible(change.field)}:")
            lines.extend(f"    | {visible(line)}" for line in change.after.splitlines())
            continue
        lines.append(f"  {visible(change.target)}: {visible(change.field)}: "
                     f"{_short(change.before)} -> {_short(change.after)}")
    lines.extend(f"  ! {visible(w)}" for w in plan.warnings)
    return lines


def _short(value: Any) -> str:
    text = visible(value if isinstance(value, str) else json.dumps(value, default=str))
    return text if len(text) <= 80 else text[:77] + "..."


class _Printer:
    """Shows engine events as lines on the terminal."""

    def __init__(self, out: TextIO | None) -> None:
        # sys.stdout as it is when the responder is made, not when this module was
        # imported (a redirect or a test's capture may have replaced it since).
        self.out = out if out is not None else sys.stdout

    def say(self, line: str = "") -> None:
        # The last line of defence: no escape sequence reaches the terminal, whatever
        # the caller formatted. One-line fields are made visible where they are used.
        print(visible(line, multiline=True), file=self.out, flush=True)

    def event(self, event: EngineEvent) -> None:
        data = event.data
        if event.kind is EventKind.PHASE and data["status"] == "start":
            self.say(f"\n== {data['phase'].upper()} ==")
        elif event.kind is EventKind.ANCHOR:
            self.say(f"   {data['line']}")
        elif event.kind is EventKind.BLOCKED:
            self.say(f"   dry-run blocked: {visible(data['operation'])}")
        elif event.kind is EventKind.WARNING:
            self.say(f"   warning: {visible(data['message'])}")
        elif event.kind is EventKind.RESUMED:
            self.say(f"   {visible(data['summary'])}")
        elif event.kind is EventKind.PROGRESS:
            self.say(f"   {data['done']}/{data['total']} {visible(data['message'])}")
        elif event.kind is EventKind.SECRET:
            # Shown once, on the terminal only: the engine never journals it.
            head = f"   SECRET {visible(data['name'])} (shown once, store it now):"
            if is_nested(data["value"]):
                self.say(head)
                for line in secret_lines(data["value"]):
                    self.say(f"     {visible(line)}")
            else:
                self.say(f"{head} {visible(data['value'])}")
        elif event.kind is EventKind.MESSAGE:
            # A notification as it went out, was captured (exercise) or would go (dry-run).
            self.say(f"   MESSAGE {visible(data['status'])} via {visible(data['channel'])} to "
                     f"{visible(data['target'])} ({visible(data['recipient'])}): "
                     f"{visible(data['subject'])}")
            for line in str(data["text"]).splitlines():
                self.say(f"     | {line}")
        elif event.kind is EventKind.STEP and data["status"] in ("done", "skipped"):
            self.say(f"   [{data['status']}] {visible(data['step'])}")


class TerminalResponder(_Printer):
    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__(out)

    async def _ask(self, prompt: str, secret: bool = False) -> str:
        if sys.stdin is None:  # started with standard input closed (`<&-`)
            raise Aborted(_STDIN_CLOSED)
        try:
            if secret:
                secret_answer: str = await asyncio.to_thread(
                    getpass.getpass, visible(prompt, multiline=True))
                return secret_answer
            self.out.write(visible(prompt, multiline=True))
            self.out.flush()
            line: str = await asyncio.to_thread(sys.stdin.readline)
        except (EOFError, KeyboardInterrupt):
            raise Aborted("no answer on the terminal") from None
        if not line:
            raise Aborted(_STDIN_CLOSED)
        return line.rstrip("\n")

    async def acknowledge(self, step: StepState) -> str | None:
        self.say(f"-- [manual] {visible(step.title)}: {step.text}")
        note = await self._ask("   done? press Enter (optionally type a note first): ")
        return note or None

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        hint = f" [{visible(default)}]" if default and not secret else ""
        answer = await self._ask(f"-- [prompt] {step.text}{hint}: ", secret=secret)
        return answer or (default or "")

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        self.say(f"-- [action] {visible(request.step.title)}")
        for line in describe_plan(request.plan):
            self.say(f"   {line}")
        if request.policy is Approval.CONFIRM:
            typed = await self._ask("   apply this plan? type 'yes' to apply: ")
            return ApprovalResponse(approved=typed.strip().lower() == "yes",
                                    reason=None if typed else "declined")
        if request.policy is Approval.TYPE_NAME:
            for name in request.expected_names:
                warning = name_warning(name)
                if warning:
                    self.say(f"   WARNING: {warning}")
            names = ", ".join(visible(n) for n in request.expected_names)
            typed = await self._ask(f"   type the target's name to apply "
                                    f"({names}), empty to decline: ")
            return ApprovalResponse(approved=bool(typed.strip()), typed=typed)
        self.say("   two-person approval: the second responder runs")
        self.say(f"     rescind approve {shlex.quote(str(request.plan_file))}")
        self.say("   and sends you the token; paste it below (empty line to decline):")
        lines: list[str] = []
        while True:
            line = await self._ask("")
            if not line.strip() and not lines:
                return ApprovalResponse(approved=False, reason="no token given")
            lines.append(line)
            if line.startswith("-----END SSH SIGNATURE-----"):
                return ApprovalResponse(approved=True, token="\n".join(lines) + "\n")

    async def on_failure(self, step: StepState, error: ActionError) -> FailureChoice:
        self.say(f"   {_verdict(error)} {visible(step.id)}: "
                 f"{visible(error.message, multiline=True)}")
        if error.fix:
            self.say(f"   fix: {visible(error.fix)}")
        while True:
            choice = (await self._ask("   [r]etry, [s]kip, or [a]bort? ")).strip().lower()
            if choice in ("r", "retry"):
                return FailureChoice("retry")
            if choice in ("s", "skip"):
                reason = await self._ask("   reason for skipping (journaled): ")
                return FailureChoice("skip", reason or "skipped by the responder")
            if choice in ("a", "abort"):
                return FailureChoice("abort", "aborted by the responder")


class ExerciseResponder(_Printer):
    """Plays the responder in a tabletop: everything approved, failures skipped."""

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__(out)
        self._second: Any = None

    async def acknowledge(self, step: StepState) -> str | None:
        self.say(f"-- [manual] {visible(step.title)}: {step.text}  -> {EXERCISE_ANSWER}")
        return EXERCISE_ANSWER

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        if secret:
            # A value of its own: the engine redacts a secret wherever its text
            # appears, and "(exercise)" also stands in every acknowledged step.
            answer = f"exercise-secret-{secrets.token_hex(8)}"
        else:
            answer = default if default is not None else EXERCISE_ANSWER
        self.say(f"-- [prompt] {step.text} -> {'***' if secret else visible(answer)}")
        return answer

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        self.say(f"-- [action] {visible(request.step.title)}")
        for line in describe_plan(request.plan):
            self.say(f"   {line}")
        self.say(f"   auto-approved ({request.policy.value}, exercise)")
        if request.policy is Approval.TYPE_NAME:
            return ApprovalResponse(approved=True, typed=request.expected_names[0])
        if request.policy is Approval.TWO_PERSON:
            from rescind.record.approval import sign_approval

            return ApprovalResponse(approved=True, token=sign_approval(
                request.plan_file.read_bytes(), self._second_approver()))
        return ApprovalResponse(approved=True)

    def _second_approver(self) -> Any:
        if self._second is None:
            from rescind.record.keys import ephemeral_signer

            self._second = ephemeral_signer("Exercise Approver", "approver@example.com")
        return self._second

    async def on_failure(self, step: StepState, error: ActionError) -> FailureChoice:
        self.say(f"   {_verdict(error)} {visible(step.id)}: {visible(error.message)} "
                 "-> skipped (exercise)")
        return FailureChoice("skip", f"exercise: {error.message}")


def _verdict(error: ActionError) -> str:
    """A declined plan is the responder's choice, not a failure: say so."""
    return "DECLINED" if error.kind == "declined" else "FAILED"
