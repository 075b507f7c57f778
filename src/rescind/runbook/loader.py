"""Load a runbook file safely, keeping the line and column of every node.

The YAML is read as a stream of parser events (libyaml's when available) and the
value tree is built here, iteratively, so hostile input cannot reach a recursive
composer or an alias expansion: aliases are refused outright, nesting and node
counts are capped, and the file size is capped before anything is parsed. Every
node's position is kept in a map from its path tuple, e.g.
``("phases", "contain", 0, "with", "user")``, so each problem names FILE:LINE:COL.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from rescind.errors import UsageError
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

MAX_BYTES = 1 << 20  # a runbook is a few KiB; anything past 1 MiB is a mistake or an attack
MAX_DEPTH = 64
MAX_NODES = 100_000

_STR_TAG = "tag:yaml.org,2002:str"
_SCALAR_TAGS = frozenset({_STR_TAG, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                          "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"})
# Dates stay text: a param such as `since: 2024-05-01` means the string the author wrote.
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"

Path_ = tuple[Any, ...]


@dataclass(frozen=True)
class Mark:
    """A 1-based position in the runbook file (columns count characters)."""

    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a runbook, where it is and what was expected."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"

    @classmethod
    def at(cls, file: str, mark: Mark, message: str) -> Problem:
        return cls(file, mark.line, mark.col, message)


class RunbookError(UsageError):
    """A runbook that cannot be used; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: list[Problem], *, fix: str | None = None) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.col))
        count = len(self.problems)
        files = sorted({p.file for p in self.problems})
        head = (f"invalid runbook {', '.join(files)} "
                f"({count} problem{'s' if count != 1 else ''}):")
        super().__init__("\n".join([head, *(str(p) for p in self.problems)]), fix=fix)


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
        return _nearest(self.positions, tuple(path))


def _nearest(positions: dict[tuple[Any, ...], Mark], path: tuple[Any, ...]) -> Mark:
    while path and path not in positions:
        path = path[:-1]
    return positions.get(path, Mark(1, 1))


# --- reading bytes ---------------------------------------------------------------------


def _read_file(path: Path) -> bytes:
    name = str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)  # never read more than the cap, even from a device
    except IsADirectoryError:
        raise RunbookError([Problem(name, 1, 1, "is a directory, not a runbook file")],
                           fix="pass a .yaml file, or use `rescind validate DIR`") from None
    except OSError as exc:
        raise RunbookError([Problem(name, 1, 1, f"cannot read the file: {exc.strerror}")],
                           fix="check the path and its permissions") from None
    return data


def _decode(source: bytes, name: str) -> str:
    if len(source) > MAX_BYTES:
        raise RunbookError([Problem(name, 1, 1, f"file is larger than {MAX_BYTES // 1024} KiB; "
                                    "a runbook is a small YAML file")])
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = source[:exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
        raise RunbookError([Problem(
            name, line, col,
            f"not UTF-8: byte 0x{source[exc.start]:02x} at byte offset {exc.start} "
            "cannot be decoded; save the file as UTF-8")]) from None
    return text.removeprefix("\ufeff")


# --- YAML events to values ---------------------------------------------------------------


def _mark(m: Any) -> Mark:
    return Mark(int(m.line) + 1, int(m.column) + 1)


class _Skip:
    """Placeholder key for an entry that is reported and then dropped."""


_SKIP = _Skip()


@dataclass
class _Frame:
    path: Path_
    value: dict[str, Any] | list[Any]
    key: Any = None  # mappings: the key waiting for its value (None: expecting a key)
    key_mark: Mark | None = None
    keys: dict[str, Mark] = field(default_factory=dict)


@dataclass
class _Tree:
    data: dict[str, Any]
    positions: dict[tuple[Any, ...], Mark]
    key_positions: dict[tuple[Any, ...], Mark]
    problems: list[Problem]


class _Fatal(Exception):
    def __init__(self, mark: Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


def _events(text: str) -> Iterator[Any]:
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    try:
        while loader.check_event():
            yield loader.get_event()
    finally:
        loader.dispose()


def _tag_message(tag: str) -> str:
    short = tag.replace("tag:yaml.org,2002:", "!!")
    return f"YAML tag {short} is not supported in runbooks; write plain values"


class _Builder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()
        self.stack: list[_Frame] = []
        self.root: dict[str, Any] | None = None
        self.positions: dict[tuple[Any, ...], Mark] = {}
        self.key_positions: dict[tuple[Any, ...], Mark] = {}
        self.problems: list[Problem] = []
        self.nodes = 0
        self.documents = 0

    def problem(self, mark: Mark, message: str) -> None:
        self.problems.append(Problem.at(self.name, mark, message))

    def build(self, text: str) -> _Tree:
        for event in _events(text):
            self.feed(event)
        if self.root is None:
            raise _Fatal(Mark(1, 1), "the file is empty; expected a mapping with id, title "
                         "and phases")
        return _Tree(self.root, self.positions, self.key_positions, self.problems)

    def feed(self, ev: Any) -> None:
        if isinstance(ev, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise _Fatal(_mark(ev.start_mark), "a runbook file holds one YAML document; "
                             "remove the second '---'")
        elif isinstance(ev, yaml.AliasEvent):
            raise _Fatal(_mark(ev.start_mark), f"aliases (*{ev.anchor}) are not allowed in "
                         "runbooks; write the value out")
        elif isinstance(ev, yaml.ScalarEvent):
            self.node(ev, self.scalar(ev))
        elif isinstance(ev, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            is_map = isinstance(ev, yaml.MappingStartEvent)
            self.check_tag(ev, _MAP_TAG if is_map else _SEQ_TAG)
            if len(self.stack) >= MAX_DEPTH:
                raise _Fatal(_mark(ev.start_mark),
                             f"nesting deeper than {MAX_DEPTH} levels; a runbook is not that deep")
            container: dict[str, Any] | list[Any] = {} if is_map else []
            path = self.node(ev, container)
            self.stack.append(_Frame(path, container))
        elif isinstance(ev, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            self.stack.pop()

    def check_tag(self, ev: Any, default: str) -> None:
        if ev.tag not in (None, "!", default):
            self.problem(_mark(ev.start_mark), _tag_message(ev.tag))

    def scalar(self, ev: Any) -> Any:
        tag = ev.tag
        if tag in (None, "!"):
            tag = self.resolver.resolve(  # type: ignore[no-untyped-call]  # untyped stub
                yaml.ScalarNode, ev.value, ev.implicit)
        if tag == _TIMESTAMP_TAG:
            return ev.value
        if tag not in _SCALAR_TAGS:
            self.problem(_mark(ev.start_mark), _tag_message(tag))
            return ev.value
        node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, ev.style)
        try:
            return self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError) as exc:
            self.problem(_mark(ev.start_mark), f"cannot read this value: {exc}")
            return ev.value

    def node(self, ev: Any, value: Any) -> Path_:
        """Place a new node in its parent; return its path."""
        mark = _mark(ev.start_mark)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Fatal(mark, f"more than {MAX_NODES} YAML nodes; a runbook is much smaller")
        if not self.stack:
            if not isinstance(value, dict):
                raise _Fatal(mark, f"the top level must be a mapping (id:, title:, phases:), "
                             f"found {describe(value)}")
            self.root = value
            self.positions[()] = mark
            return ()
        parent = self.stack[-1]
        detached = _SKIP in parent.path  # inside a dropped key or value: keep no positions
        if isinstance(parent.value, list):
            path: Path_ = (*parent.path, len(parent.value))
            parent.value.append(value)
            if not detached:
                self.positions[path] = mark
            return path
        if parent.key is None:  # this node is a key
            parent.key = self.key(parent, value, mark) if not detached else _SKIP
            parent.key_mark = mark
            return (*parent.path, _SKIP)  # a collection used as a key is dropped
        key, parent.key = parent.key, None
        if isinstance(key, _Skip):
            return (*parent.path, _SKIP)
        path = (*parent.path, key)
        parent.value[key] = value
        if not detached:
            self.positions[path] = mark
            assert parent.key_mark is not None
            self.key_positions[path] = parent.key_mark
        return path

    def key(self, parent: _Frame, key: Any, mark: Mark) -> Any:
        if isinstance(key, dict | list):
            self.problem(mark, "mapping keys must be plain text")
            return _SKIP
        if not isinstance(key, str):
            text = "null" if key is None else str(key).lower() if isinstance(key, bool) else key
            self.problem(mark, f"key {text} is read as {describe(key)}, not text; quote it: "
                         f"'{text}'")
            return _SKIP
        if key in parent.keys:
            self.problem(mark, f"duplicate key '{key}' (first at line {parent.keys[key].line}); "
                         "keep one")
            return _SKIP
        parent.keys[key] = mark
        return key


def _parse(text: str, name: str) -> _Tree:
    try:
        tree = _Builder(name).build(text)
    except _Fatal as exc:
        raise RunbookError([Problem.at(name, exc.mark, exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _mark(mark) if mark is not None else Mark(1, 1)
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise RunbookError([Problem.at(name, where, f"YAML syntax error: {what}")]) from None
    except yaml.reader.ReaderError as exc:
        before = text[:exc.position]
        where = Mark(before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise RunbookError([Problem.at(name, where, f"character U+{ord(char):04X} is not "
                                       "allowed in YAML (control characters are refused)")]
                           ) from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise RunbookError([Problem(name, 1, 1, f"YAML error: {detail}")]) from None
    if tree.problems:
        raise RunbookError(tree.problems)
    return tree


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
                    tree: _Tree) -> tuple[list[Problem], list[tuple[Any, ...]]]:
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
        mark = positions.get(where) or _nearest(tree.positions, where)
        problems.append(Problem.at(name, mark, message))
        broken.append(where + rest[:1] if err["type"] == "missing" else where)
    problems.extend(_tagless_step_problems(data, name, tree))
    return problems, broken


def _tagless_step_problems(data: Any, name: str, tree: _Tree) -> list[Problem]:
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
    text = _decode(source, name)
    tree = _parse(text, name)
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
    analysis = analyse(_read_file(path), str(path), path)
    if analysis.loaded is None:
        raise RunbookError(analysis.problems)
    return analysis.loaded


def analyse_file(path: Path) -> Analysis:
    return analyse(_read_file(path), str(path), path)
