"""Read runbook YAML safely into plain values, keeping the line and column of every node.

The YAML is read as a stream of parser events (libyaml's when available) and the
value tree is built here, iteratively, so hostile input never reaches a recursive
composer or an alias expansion: aliases are refused outright, nesting and node
counts are capped, and the file size is capped before anything is parsed. Every
node's position is kept in a map from its path tuple, e.g.
``("phases", "contain", 0, "with", "user")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rescind.runbook.messages import describe
from rescind.runbook.problems import Mark, Problem, RunbookError

MAX_BYTES = 1 << 20  # a runbook is a few KiB; anything past 1 MiB is a mistake or an attack
MAX_DEPTH = 64
_TOO_DEEP = f"nesting deeper than {MAX_DEPTH} levels; a runbook is not that deep"
MAX_NODES = 20_000  # a large runbook has a few hundred

_STR_TAG = "tag:yaml.org,2002:str"
_SCALAR_TAGS = frozenset({_STR_TAG, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                          "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"})
# Dates stay text: a param such as `since: 2024-05-01` means the string the author wrote.
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"

Path_ = tuple[Any, ...]


def read_file(path: Path) -> bytes:
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


def decode(source: bytes, name: str) -> str:
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
class Tree:
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

    def build(self, text: str) -> Tree:
        for event in _events(text):
            self.feed(event)
        if self.root is None:
            raise _Fatal(Mark(1, 1), "the file is empty; expected a mapping with id, title "
                         "and phases")
        return Tree(self.root, self.positions, self.key_positions, self.problems)

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
                raise _Fatal(_mark(ev.start_mark), _TOO_DEEP)
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
        if tag == _STR_TAG:
            return ev.value
        node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, ev.style)
        try:
            return self.constructor.yaml_constructors[tag](self.constructor, node)
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


def parse(text: str, name: str) -> Tree:
    try:
        tree = _Builder(name).build(text)
    except _Fatal as exc:
        raise RunbookError([Problem.at(name, exc.mark, exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _mark(mark) if mark is not None else Mark(1, 1)
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        if "nesting depth" in what:
            # libyaml 0.2.5+ refuses deep flow nesting in its scanner, before our own
            # depth check sees the events: give the same message whichever layer caught it.
            raise RunbookError([Problem.at(name, where, _TOO_DEEP)]) from None
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
