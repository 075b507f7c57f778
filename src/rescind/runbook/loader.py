"""Load a runbook: safe YAML with positions (yamltree), then the pydantic model, with
every model error mapped to FILE:LINE:COL and unknown keys answered with a
"did you mean".
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from rescind.runbook.messages import describe, did_you_mean, expected, one_of, value_message
from rescind.runbook.model import (
    PHASES,
    STEP_KINDS,
    ActionStep,
    InputSpec,
    ManualStep,
    NoteStep,
    PromptStep,
    Runbook,
)
from rescind.runbook.problems import Mark, Problem, RunbookError, nearest
from rescind.runbook.yamltree import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    Tree,
    decode,
    parse,
    read_file,
)

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "Analysis", "LoadedRunbook", "Mark", "Problem",
           "RunbookError", "analyse", "analyse_file", "load_runbook", "load_runbook_text"]


@dataclass
class LoadedRunbook:
    """A runbook model with the file it came from and where each node sits in it.

    ``positions`` maps a path to the start of its value; ``key_positions`` maps a
    mapping entry's path to the start of its key (where an unknown key is reported).
    """

    runbook: Runbook
    path: Path
    source: bytes
    sha256: str
    positions: dict[tuple[Any, ...], Mark]
    key_positions: dict[tuple[Any, ...], Mark] = field(default_factory=dict)

    @property
    def file(self) -> str:
        return str(self.path)

    def mark_for(self, path: tuple[Any, ...], *, key: bool = False) -> Mark:
        """The position of ``path`` (its key with ``key=True``), else its nearest parent's."""
        if key and tuple(path) in self.key_positions:
            return self.key_positions[tuple(path)]
        return nearest(self.positions, tuple(path))


# --- model validation with positions -------------------------------------------------------

_STEP_MODELS: dict[str, type[BaseModel]] = {
    "action": ActionStep, "manual": ManualStep, "prompt": PromptStep, "note": NoteStep}


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The keys a runbook may write for ``model`` (aliases, not Python names)."""
    return [f.alias or n for n, f in model.model_fields.items()]


def _all_step_keys() -> list[str]:
    keys: list[str] = []
    for model in _STEP_MODELS.values():
        keys += [k for k in allowed_keys(model) if k not in keys]
    return keys


def _model_at(data: Any, path: tuple[Any, ...]) -> tuple[str, list[str]] | None:
    """What lives at ``path`` (a description and its allowed keys), for unknown-key messages."""
    if path == ():
        return "runbook", allowed_keys(Runbook)
    if path == ("phases",):
        return "phases", list(PHASES)
    if len(path) == 2 and path[0] == "inputs":
        return f"input '{path[1]}'", allowed_keys(InputSpec)
    if len(path) == 3 and path[0] == "phases" and isinstance(path[2], int):
        step = _get(data, path)
        kind = _step_kind(step)
        if kind is None:
            return "step", _all_step_keys()
        return f"{kind} step", allowed_keys(_STEP_MODELS[kind])
    return None


def _step_kind(step: Any) -> str | None:
    if not isinstance(step, dict):
        return None
    present = [k for k in STEP_KINDS if k in step]
    return present[0] if len(present) == 1 else None


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _locate(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Split a pydantic error location into the part that exists in ``data`` and the rest.

    Discriminator tags (the step kind after a step index) are not in the data and
    are dropped.
    """
    found: list[Any] = []
    rest = list(loc)
    if len(rest) > 3 and rest[0] == "phases" and isinstance(rest[2], int) \
            and rest[3] in STEP_KINDS:
        del rest[3]
    node = data
    while rest:
        part = rest[0]
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            break
        node = node[part]
        found.append(rest.pop(0))
    return tuple(found), tuple(rest)


def _message(err: Any, where: tuple[Any, ...], rest: tuple[Any, ...], data: Any) -> str:
    kind = err["type"]
    if kind == "missing" and len(rest) == 1:
        return f"missing required key '{rest[0]}'"
    if kind == "extra_forbidden" and where:
        key = str(where[-1])
        owner = _model_at(data, where[:-1])
        if owner is not None:
            label, keys = owner
            return f"unknown key '{key}' in {label}" + (
                did_you_mean(key, keys) or f"; expected one of: {', '.join(keys)}")
        return f"unknown key '{key}'"
    value = _get(data, where)
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        if isinstance(value, dict):
            present = [k for k in STEP_KINDS if k in value]
            if present:
                return (f"a step has exactly one of action, manual, prompt, note; "
                        f"this one has {', '.join(present)}")
            return "a step needs exactly one of: action, manual, prompt, note"
        return ("expected a step (a mapping with id: and one of action, manual, prompt, "
                f"note), found {describe(value)}")
    return value_message(err, value)


@dataclass
class Analysis:
    """Everything ``load_and_validate`` needs: the strict result, or a best-effort one.

    When the model does not validate, ``partial`` is the runbook with the offending
    steps and inputs left out (``dropped_steps``/``dropped_inputs`` name them; None
    means every input was dropped), so the remaining checks still run and report
    everything at once.
    """

    problems: list[Problem]
    loaded: LoadedRunbook | None
    partial: LoadedRunbook | None
    raw: dict[str, Any] | None
    dropped_steps: set[str] = field(default_factory=set)
    dropped_inputs: set[str] | None = field(default_factory=set)


def _model_problems(exc: ValidationError, data: Any, name: str,
                    tree: Tree) -> tuple[list[Problem], list[tuple[Any, ...]]]:
    problems: list[Problem] = []
    seen: set[tuple[tuple[Any, ...], str]] = set()
    broken: list[tuple[Any, ...]] = []
    errors = exc.errors(include_url=False)
    # A union (e.g. an input's default) fails once per member: say all they expected, once.
    union: dict[tuple[Any, ...], list[str]] = {}
    for err in errors:
        where, rest = _locate(data, tuple(err["loc"]))
        if rest and err["type"] != "missing" and expected(err["type"]):
            names = union.setdefault(where, [])
            if expected(err["type"]) not in names:
                names.append(expected(err["type"]))
    for err in errors:
        where, rest = _locate(data, tuple(err["loc"]))
        if where in union:
            if (where, "union") in seen:
                continue
            seen.add((where, "union"))
            message = f"expected {one_of(union[where])}, found {describe(_get(data, where))}"
        else:
            if (where, err["type"]) in seen:
                continue
            seen.add((where, err["type"]))
            message = _message(err, where, rest, data)
        positions = tree.key_positions if err["type"] == "extra_forbidden" else tree.positions
        mark = positions.get(where) or nearest(tree.positions, where)
        problems.append(Problem.at(name, mark, message))
        broken.append(where + rest[:1] if err["type"] == "missing" else where)
    problems.extend(_tagless_step_problems(data, name, tree))
    return problems, broken


def _tagless_step_problems(data: Any, name: str, tree: Tree) -> list[Problem]:
    """pydantic stops at a step without a kind; still name its unknown keys."""
    problems: list[Problem] = []
    phases = data.get("phases") if isinstance(data, dict) else None
    if not isinstance(phases, dict):
        return problems
    known = _all_step_keys()
    for phase, steps in phases.items():
        if not isinstance(steps, list):
            continue
        for i, step in enumerate(steps):
            if isinstance(step, dict) and _step_kind(step) is None:
                for key in step:
                    if key not in known:
                        mark = tree.key_positions[("phases", phase, i, key)]
                        problems.append(Problem.at(name, mark, f"unknown key '{key}' in step"
                                                   + did_you_mean(key, known)))
    return problems


_ROOT_FALLBACKS: dict[str, Any] = {"id": "runbook", "title": "", "phases": {}}


@dataclass
class _Pruned:
    data: dict[str, Any]
    dropped_steps: set[str] = field(default_factory=set)
    dropped_inputs: set[str] | None = field(default_factory=set)
    # phase -> indexes of the steps left out; None: the whole phase (or all phases) went
    removed: dict[str, set[int] | None] = field(default_factory=dict)
    all_phases_removed: bool = False


def _prune(data: dict[str, Any], broken: list[tuple[Any, ...]]) -> _Pruned:
    """Drop the broken parts of ``data`` so the rest can still be checked."""
    out = _Pruned(copy.deepcopy(data))
    pruned = out.data
    for where in broken:
        if not where:
            continue
        head = where[0]
        if head == "inputs" and len(where) >= 2 and isinstance(pruned.get("inputs"), dict):
            pruned["inputs"].pop(where[1], None)
            if out.dropped_inputs is not None:
                out.dropped_inputs.add(str(where[1]))
        elif head == "inputs":
            pruned["inputs"] = {}
            out.dropped_inputs = None
        elif head == "phases" and len(where) >= 3 and isinstance(where[2], int):
            removed = out.removed.setdefault(str(where[1]), set())
            if removed is not None:
                removed.add(where[2])
        elif head == "phases" and len(where) == 2 and isinstance(pruned.get("phases"), dict):
            phase = str(where[1])
            out.dropped_steps |= _ids(pruned["phases"].pop(phase, None))
            out.removed[phase] = None
        elif head in _ROOT_FALLBACKS:
            if head == "phases":
                out.dropped_steps |= {i for s in _phase_lists(pruned) for i in _ids(s)}
                out.all_phases_removed = True
            pruned[str(head)] = _ROOT_FALLBACKS[str(head)]
        else:
            pruned.pop(str(head), None)
    phases = pruned.get("phases")
    if isinstance(phases, dict):
        for phase, removed in out.removed.items():
            steps = phases.get(phase)
            if removed is None or not isinstance(steps, list):
                continue
            out.dropped_steps |= _ids([s for i, s in enumerate(steps) if i in removed])
            phases[phase] = [s for i, s in enumerate(steps) if i not in removed]
    return out


def _phase_lists(data: dict[str, Any]) -> list[Any]:
    phases = data.get("phases")
    return list(phases.values()) if isinstance(phases, dict) else []


def _ids(steps: Any) -> set[str]:
    if not isinstance(steps, list):
        return set()
    return {s["id"] for s in steps if isinstance(s, dict) and isinstance(s.get("id"), str)}


def _reindex(positions: dict[tuple[Any, ...], Mark], pruned: _Pruned
             ) -> dict[tuple[Any, ...], Mark]:
    """Positions for the pruned data: step paths renumbered after steps were left out."""
    out: dict[tuple[Any, ...], Mark] = {}
    for path, mark in positions.items():
        if len(path) >= 2 and path[0] == "phases":
            if pruned.all_phases_removed:
                continue
            phase = str(path[1])
            if phase in pruned.removed:
                removed = pruned.removed[phase]
                if removed is None:
                    continue
                if len(path) >= 3 and isinstance(path[2], int):
                    if path[2] in removed:
                        continue
                    new = path[2] - sum(1 for i in removed if i < path[2])
                    path = (path[0], path[1], new, *path[3:])
        out[path] = mark
    return out


def analyse(source: bytes, name: str, path: Path) -> Analysis:
    """Parse and model-check ``source``; fatal YAML problems raise RunbookError."""
    text = decode(source, name)
    tree = parse(text, name)
    digest = hashlib.sha256(source).hexdigest()
    try:
        runbook = Runbook.model_validate(tree.data)
    except ValidationError as exc:
        problems, broken = _model_problems(exc, tree.data, name, tree)
        pruned = _prune(tree.data, broken)
        partial = None
        try:
            model = Runbook.model_validate(pruned.data)
        except ValidationError:
            pass  # too broken to check further; the problems found so far say why
        else:
            partial = LoadedRunbook(model, path, source, digest,
                                    _reindex(tree.positions, pruned),
                                    _reindex(tree.key_positions, pruned))
        return Analysis(problems, None, partial, tree.data, pruned.dropped_steps,
                        pruned.dropped_inputs)
    loaded = LoadedRunbook(runbook, path, source, digest, tree.positions, tree.key_positions)
    return Analysis([], loaded, loaded, tree.data)


def load_runbook_text(text: str | bytes, name: str) -> LoadedRunbook:
    """Load a runbook from text (``name`` is used in messages and as its path)."""
    source = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    analysis = analyse(source, name, Path(name))
    if analysis.loaded is None:
        raise RunbookError(analysis.problems)
    return analysis.loaded


def load_runbook(path: Path | str) -> LoadedRunbook:
    """Load and model-check the runbook at ``path``; RunbookError lists every problem."""
    path = Path(path)
    analysis = analyse(read_file(path), str(path), path)
    if analysis.loaded is None:
        raise RunbookError(analysis.problems)
    return analysis.loaded


def analyse_file(path: Path) -> Analysis:
    return analyse(read_file(path), str(path), path)
