"""Check a whole runbook before anything runs, and report every problem with its position.

The loader has checked the structure; this checks meaning: unique step ids, actions
that exist with parameters that type-check, references and conditions that name
inputs, steps and outputs that exist and run earlier, and inputs whose patterns
and defaults make sense.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from rescind.actions import registry
from rescind.runbook.conditions import STEP_FIELDS, ConditionError, compile_condition
from rescind.runbook.inputs import INPUT_NAME, as_text, check, coerce_inputs, convert
from rescind.runbook.loader import (
    Analysis,
    LoadedRunbook,
    Problem,
    RunbookError,
    analyse_file,
)
from rescind.runbook.messages import did_you_mean, expected, value_message
from rescind.runbook.model import ActionStep, InputSpec, ManualStep, NoteStep, PromptStep
from rescind.runbook.refs import BadRef, Ref, has_refs, scan_refs

# coerce_inputs lives in inputs.py; it is exported here too so the engine takes the
# whole "check before running" API from one module.
__all__ = ["coerce_inputs", "load_and_validate", "outputs_of", "secret_outputs_of", "validate"]

AnyStep = ActionStep | ManualStep | PromptStep | NoteStep

# The fields whose references the engine resolves; a ${{ }} anywhere else would be
# shown to the responder literally, so it is an error.
EXPANDED: dict[str, tuple[str, ...]] = {
    "action": ("with",), "manual": ("manual",), "prompt": ("prompt",), "note": ("note",)}
LITERAL: tuple[str, ...] = ("name", "description", "default")
STEP_OUTPUTS: dict[str, tuple[str, ...]] = {"manual": ("note",), "prompt": ("answer",),
                                            "note": ()}


def outputs_of(step: AnyStep) -> tuple[str, ...] | None:
    """The output names a step declares; None for an action that is not registered."""
    if isinstance(step, ActionStep):
        action = registry.get(step.action)
        if action is None:
            return None
        return (*action.outputs, *(o for o in action.secret_outputs if o not in action.outputs))
    return STEP_OUTPUTS[step.kind]


def secret_outputs_of(step: AnyStep) -> tuple[str, ...]:
    """Outputs that must never be written into text that reaches the record."""
    if isinstance(step, ActionStep):
        action = registry.get(step.action)
        return () if action is None else tuple(action.secret_outputs)
    if isinstance(step, PromptStep) and step.secret:
        return ("answer",)
    return ()


@dataclass
class _Placed:
    phase: str
    index: int
    step: AnyStep

    @property
    def path(self) -> tuple[Any, ...]:
        return ("phases", self.phase, self.index)


class _Checker:
    def __init__(self, loaded: LoadedRunbook, dropped_steps: Iterable[str] = (),
                 dropped_inputs: Iterable[str] | None = ()) -> None:
        self.loaded = loaded
        self.runbook = loaded.runbook
        self.problems: list[Problem] = []
        self.dropped_steps = set(dropped_steps)
        self.dropped_inputs = None if dropped_inputs is None else set(dropped_inputs)
        self.placed = [_Placed(phase, i, step)
                       for phase, steps in self.runbook.phases.items()
                       for i, step in enumerate(steps)]
        self.order: dict[str, int] = {}
        for n, placed in enumerate(self.placed):
            self.order.setdefault(placed.step.id, n)

    def add(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> None:
        mark = self.loaded.mark_for(path, key=key)
        self.problems.append(Problem.at(self.loaded.file, mark, message))

    def run(self) -> list[Problem]:
        self.check_runbook()
        for name, spec in self.runbook.inputs.items():
            self.check_input(name, spec)
        self.check_ids()
        for n, placed in enumerate(self.placed):
            self.check_step(n, placed)
        return sorted(set(self.problems), key=lambda p: (p.line, p.col, p.message))

    # --- the runbook and its inputs -----------------------------------------------------

    def check_cloud_names(self) -> None:
        from rescind.providers import registry as providers

        known = providers.names()
        for i, name in enumerate(self.runbook.clouds):
            if name not in known:
                self.add(("clouds", i), f"no provider for cloud '{name}'"
                         + (did_you_mean(name, known) or f"; known: {', '.join(known)}"))

    def check_runbook(self) -> None:
        self.check_cloud_names()
        for fld in ("title", "description"):
            if "${{" in getattr(self.runbook, fld):
                self.add((fld,), f"references are not expanded in {fld}:")
        if not self.placed and not self.dropped_steps:
            self.add(("phases",), "the runbook has no steps; add at least one to a phase")
        scenario = self.runbook.scenario
        if scenario is not None and self.loaded.path.is_file():
            target = self.loaded.path.parent / scenario
            if not target.is_file():
                self.add(("scenario",), f"scenario file {scenario!r} not found next to the "
                         "runbook")

    def check_input(self, name: str, spec: InputSpec) -> None:
        base = ("inputs", name)
        if not re.fullmatch(INPUT_NAME, name):
            self.add(base, f"input name '{name}' must be letters, digits and '_', starting "
                     "with a letter (it is written inputs.NAME in conditions)", key=True)
        if "${{" in spec.description:
            self.add((*base, "description"), "references are not expanded in description:")
        pattern_ok = self.check_pattern((*base, "pattern"), spec.pattern)
        for i, choice in enumerate(spec.choices or []):
            try:
                convert(spec, choice)
            except ValueError as exc:
                self.add((*base, "choices", i), f"choice {choice!r} is not a valid {spec.type}: "
                         f"{exc}")
        if spec.choices == []:
            self.add((*base, "choices"), "choices is empty; remove it or list the values")
        if spec.default is not None and pattern_ok:
            shown = "the default" if spec.secret else f"default {as_text(spec.default)!r}"
            if isinstance(spec.default, str) and spec.type != "string":
                self.add((*base, "default"), f"{shown} is text but the input is {spec.type}; "
                         "write it unquoted")
                return
            try:
                check(spec, spec.default)
            except ValueError as exc:
                self.add((*base, "default"), f"{shown} {_reason(str(exc), spec)}")

    def check_pattern(self, path: tuple[Any, ...], pattern: str | None) -> bool:
        if pattern is None:
            return True
        try:
            re.compile(pattern)
        except re.error as exc:
            where = f" at position {exc.pos}" if exc.pos is not None else ""
            self.add(path, f"pattern is not a valid regular expression: {exc.msg}{where}")
            return False
        return True

    # --- steps ------------------------------------------------------------------------

    def check_ids(self) -> None:
        first: dict[str, _Placed] = {}
        for placed in self.placed:
            sid = placed.step.id
            if sid in first:
                mark = self.loaded.mark_for((*first[sid].path, "id"))
                self.add((*placed.path, "id"), f"duplicate step id '{sid}' (first used at line "
                         f"{mark.line}); step ids are unique across all phases")
            else:
                first[sid] = placed

    def check_step(self, n: int, placed: _Placed) -> None:
        step, path = placed.step, placed.path
        expanded = EXPANDED[step.kind]
        for fld in LITERAL:
            if "${{" in (getattr(step, fld, None) or ""):
                self.add((*path, fld), f"references are not expanded in {fld}:")
        for fld in expanded:
            value = step.with_ if isinstance(step, ActionStep) else getattr(step, fld)
            for ref in scan_refs(value):
                self.check_ref(n, (*path, fld, *ref.path), ref)
                # Step text is shown and journaled; only an action's params may carry a secret.
                if fld != "with" and isinstance(ref, Ref) and self.is_secret(ref):
                    self.add((*path, fld, *ref.path), f"{ref.text} is secret and {fld}: text "
                             "reaches the record; pass it to an action's with: instead")
        if isinstance(step, ActionStep):
            self.check_action(path, step)
            self.check_clouds(path, step)
        if isinstance(step, PromptStep) and self.check_pattern((*path, "pattern"), step.pattern) \
                and step.pattern and step.default is not None and not has_refs(step.default) \
                and re.search(step.pattern, step.default) is None:
            shown = "the default" if step.secret else f"default {step.default!r}"
            self.add((*path, "default"), f"{shown} does not match the "
                     f"pattern {step.pattern}")
        if step.when is not None:
            self.check_when(n, (*path, "when"), step.when)

    def check_action(self, path: tuple[Any, ...], step: ActionStep) -> None:
        action = registry.get(step.action)
        if action is None:
            hint = did_you_mean(step.action, registry.names()) or _known_actions(step.action)
            self.add((*path, "action"), f"unknown action '{step.action}'{hint}")
            return
        for sub, message, key in _param_problems(action.name, action.params_model, step.with_):
            self.add((*path, "with", *sub), message, key=key)

    def check_clouds(self, path: tuple[Any, ...], step: ActionStep) -> None:
        """The providers an action talks to must be in the runbook's ``clouds:``."""
        action = registry.get(step.action)
        if action is None or "clouds" not in self.runbook.model_fields_set:
            return  # nothing declared to disagree with
        declared = self.runbook.clouds
        for name in action.providers_for(step.with_):
            if name not in declared:
                self.add((*path, "action"), f"action {step.action} talks to {name}, which "
                         f"is not in the runbook's clouds: [{', '.join(declared)}]; add "
                         f"{name} to clouds:")

    # --- references and conditions ----------------------------------------------------

    def is_secret(self, ref: Ref) -> bool:
        if ref.kind == "inputs":
            spec = self.runbook.inputs.get(ref.name)
            return spec is not None and spec.secret
        at = self.order.get(ref.name)
        return at is not None and ref.output in secret_outputs_of(self.placed[at].step)

    def check_ref(self, n: int, path: tuple[Any, ...], ref: Ref | BadRef) -> None:
        if isinstance(ref, BadRef):
            self.add(path, ref.message)
        elif ref.kind == "inputs":
            self.check_input_use(path, ref.name, ref.text)
        else:
            self.check_step_use(n, path, ref.name, ref.output, "outputs", ref.text)

    def check_input_use(self, path: tuple[Any, ...], name: str, text: str) -> None:
        if self.dropped_inputs is None or name in self.dropped_inputs:
            return
        if name not in self.runbook.inputs:
            declared = list(self.runbook.inputs)
            self.add(path, f"{text} names no input" + (did_you_mean(name, declared) or (
                f"; declared inputs: {', '.join(declared)}" if declared
                else "; declare it under inputs:")))

    def check_step_use(self, n: int, path: tuple[Any, ...], sid: str, output: str | None,
                       field: str | None, text: str) -> None:
        if sid in self.dropped_steps and sid not in self.order:
            return
        if sid not in self.order:
            self.add(path, f"{text} names no step" + did_you_mean(sid, self.order))
            return
        at = self.order[sid]
        if at == n:
            self.add(path, f"{text}: a step cannot use its own outputs or status")
            return
        if at > n:
            later = self.placed[at]
            self.add(path, f"{text}: step '{sid}' runs later (in {later.phase}); a step can "
                     "only use steps before it")
            return
        if field not in (None, *STEP_FIELDS):
            self.add(path, f"{text}: a step has only .outputs and .status, not .{field}")
            return
        declared = outputs_of(self.placed[at].step)
        if output is None or declared is None or output in declared:
            return
        target = self.placed[at].step
        what = f"action {target.action}" if isinstance(target, ActionStep) \
            else f"a {target.kind} step"
        have = f"it has: {', '.join(declared)}" if declared else "it has no outputs"
        self.add(path, f"{text}: step '{sid}' ({what}) has no output '{output}'; {have}"
                 + did_you_mean(output, declared))

    def check_when(self, n: int, path: tuple[Any, ...], expr: str) -> None:
        try:
            cond = compile_condition(expr)
        except ConditionError as exc:
            self.add(path, f"when: {exc.message}")
            return
        # `steps.tell-security` parses as `steps.tell - security`: say so once, below.
        fragments = {part for u in cond.step_uses if u.hyphenated and u.step in self.order
                     for part in u.step.split("-")}
        for name in cond.unknown_names:
            if name not in fragments:
                self.add(path, f"when: unknown name '{name}'; a condition reads inputs.NAME, "
                         "steps.ID.outputs.NAME and steps.ID.status")
        for name in cond.unknown_functions:
            self.add(path, f"when: unknown function '{name}()'")
        for name in sorted(cond.inputs):
            self.check_input_use(path, name, f"when: inputs.{name}")
        for use in cond.step_uses:
            if use.hyphenated and use.step in self.order:
                self.add(path, f"when: write steps[\"{use.step}\"]: in CEL, '-' after a dot is "
                         "a minus sign")
                continue
            if use.hyphenated:
                continue  # reported above as unknown names
            self.check_step_use(n, path, use.step, use.output, use.field,
                                f"when: steps.{use.step}")


def _known_actions(name: str) -> str:
    """Which actions exist, briefly: those of the same namespace, else the namespaces."""
    known = registry.names()
    if not known:
        return "; no actions are installed"
    prefix = name.split(".")[0]
    same = [n for n in known if n.split(".")[0] == prefix]
    if same:
        return f"; {prefix} actions are: {', '.join(same)}"
    spaces = sorted({n.split(".")[0] + "." for n in known})
    return f"; action names start with: {', '.join(spaces)}"


def _reason(reason: str, spec: InputSpec) -> str:
    if reason.startswith(("does ", "must ")):
        return reason
    return f"is not a valid {spec.type}: {reason}"


def _value_at(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...], Any]:
    found: list[Any] = []
    rest = list(loc)
    while rest:
        part = rest[0]
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_dict or in_list):
            break
        data = data[part]
        found.append(rest.pop(0))
    return tuple(found), tuple(rest), data


def _param_problems(action: str, model: type[BaseModel], params: dict[str, Any]
                    ) -> list[tuple[tuple[Any, ...], str, bool]]:
    """(path within with:, message, at-key) for each parameter problem.

    A value holding a reference is only known at run time: errors about it (or
    about a structure containing it) are left to the engine's own check then.
    """
    out: list[tuple[tuple[Any, ...], str, bool]] = []
    fields = [f.alias or n for n, f in model.model_fields.items()]
    if model.model_config.get("extra") not in ("forbid", "allow"):
        # A model that ignores extras would silently drop a misspelt parameter.
        for key in params:
            if key not in fields:
                out.append(((key,), f"unknown parameter '{key}' for {action}"
                            + (did_you_mean(key, fields)
                               or f"; it takes: {', '.join(fields) or 'no parameters'}"), True))
    try:
        model.model_validate(params)
    except ValidationError as exc:
        union_seen: set[tuple[Any, ...]] = set()
        for err in exc.errors(include_url=False):
            where, rest, value = _value_at(params, tuple(err["loc"]))
            kind = err["type"]
            if kind == "missing" and len(rest) == 1:
                noun = "parameter" if not where else "key"
                out.append((where, f"{action} needs {noun} '{rest[0]}'", False))
            elif kind == "extra_forbidden":
                key = str(where[-1]) if where else "?"
                hint = did_you_mean(key, fields) if len(where) == 1 else ""
                out.append((where, f"unknown parameter '{key}' for {action}{hint}", True))
            elif has_refs(value):
                continue
            elif rest and expected(kind):
                if where not in union_seen:
                    union_seen.add(where)
                    out.append((where, value_message(err, value), False))
            else:
                out.append((where, value_message(err, value), False))
    return out


def validate(loaded: LoadedRunbook) -> list[Problem]:
    """Every problem in a loaded runbook, in file order (empty: it is ready to run)."""
    return _Checker(loaded).run()


def check_analysis(analysis: Analysis) -> list[Problem]:
    """The structural problems plus every other problem found in what did load."""
    problems = list(analysis.problems)
    if analysis.partial is not None:
        problems += _Checker(analysis.partial, analysis.dropped_steps,
                             analysis.dropped_inputs).run()
    return sorted(set(problems), key=lambda p: (p.line, p.col, p.message))


def load_and_validate(path: Path | str) -> LoadedRunbook:
    """Load ``path`` and check everything; RunbookError lists every problem at once."""
    analysis = analyse_file(Path(path))
    problems = check_analysis(analysis)
    if problems or analysis.loaded is None:
        raise RunbookError(problems)
    return analysis.loaded

