"""``when:`` conditions, written in CEL (the expression language of GCP IAM conditions).

A condition sees two variables: ``inputs`` (the incident's inputs) and ``steps``
(step id → ``{"outputs": {...}, "status": "..."}``). It must evaluate to a boolean.
Which inputs and steps a condition uses is extracted statically so a runbook is
checked before it runs.

A condition must stay cheap: comprehensions (``.all``, ``.exists``, ``.exists_one``,
``.map``, ``.filter``) may nest at most MAX_MACRO_DEPTH deep and range over at most
MAX_LITERAL_RANGE elements written in the condition, and a condition that has any
comprehension is evaluated in a child process under a time and memory budget (its
cost also grows with the data it ranges over).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rescind.errors import UsageError
from rescind.runbook.budget import BudgetExceeded, run_bounded

# The Rust CEL parser recurses per operator and overflows the native stack (a crash,
# not an exception) on expressions of tens of thousands of terms; a `when:` is one line.
MAX_CONDITION_CHARS = 2000
# Each nested comprehension multiplies the work: seven nested `.map()`s over ten
# elements (221 characters) ran for minutes and took gigabytes.
MAX_MACRO_DEPTH = 2
MAX_LITERAL_RANGE = 100
# Real conditions take microseconds; these only stop a runaway one.
EVAL_SECONDS = 2.0
EVAL_MEMORY_BYTES = 256 * 2**20

VARIABLES = ("inputs", "steps")
STEP_FIELDS = ("outputs", "status")

# Functions of the CEL standard library this implementation provides (cel.compile
# accepts any name; an unknown one fails only when evaluated).
FUNCTIONS = frozenset({
    "size", "contains", "startsWith", "endsWith", "matches", "string", "int", "uint", "double",
    "bytes", "timestamp", "duration", "dyn", "type", "getFullYear", "getMonth", "getDayOfYear",
    "getDayOfMonth", "getDate", "getDayOfWeek", "getHours", "getMinutes", "getSeconds",
    "getMilliseconds", "of", "none", "ofNonZeroValue", "hasValue", "value", "orValue", "or",
})

_STRING = re.compile(r'''[rR]?(?:"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"'''
                     r'''|'(?:\\.|[^'\\\n])*')''')
_STEP_INDEX = re.compile(r'''(?<![\w.])steps\s*\[\s*(["'])(?P<id>[^"'\\\n]*)\1\s*\]''')
_STEP_DOT = re.compile(r"(?<![\w.])steps\s*\.\s*(?P<id>[A-Za-z_]\w*(?:-\w+)*)")
_AFTER_STEP = re.compile(
    r'''\s*\.\s*(?P<field>[A-Za-z_]\w*)(?:\s*\.\s*(?P<out>[A-Za-z_]\w*)'''
    r'''|\s*\[\s*(["'])(?P<qout>[^"'\\\n]*)\3\s*\])?''')
_INPUT = re.compile(r'''(?<![\w.])inputs\s*(?:\.\s*(?P<name>[A-Za-z_]\w*)'''
                    r'''|\[\s*(["'])(?P<qname>[^"'\\\n]*)\2\s*\])''')
_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_MACRO = re.compile(r"\.\s*(?P<name>all|exists_one|exists|map|filter)\s*\(")
_COMMENT = re.compile(r"//[^\n]*")
_CEL_ERROR = re.compile(r"<input>:(?P<line>\d+):(?P<col>\d+): (?P<msg>[^\n]*)")


class ConditionError(UsageError):
    """A ``when:`` that does not compile, or fails or is not a boolean when evaluated.

    ``line``/``column`` are 1-based within the expression, when the parser knows them.
    """

    def __init__(self, message: str, *, expression: str, line: int | None = None,
                 column: int | None = None, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.expression = expression
        self.line = line
        self.column = column


@dataclass(frozen=True)
class StepUse:
    """A use of ``steps.<id>`` in a condition: the field read and, for outputs, its name.

    ``hyphenated`` is set when the id was written after a dot with a '-' in it, which
    CEL reads as a subtraction (``steps["my-step"]`` is the way to write it).
    """

    step: str
    field: str | None
    output: str | None
    offset: int
    hyphenated: bool = False


@dataclass(frozen=True)
class Condition:
    source: str
    program: Any = field(repr=False, compare=False)
    inputs: frozenset[str] = frozenset()
    step_uses: tuple[StepUse, ...] = ()
    unknown_names: tuple[str, ...] = ()
    unknown_functions: tuple[str, ...] = ()
    comprehensions: int = 0

    @property
    def steps(self) -> frozenset[str]:
        """The step ids this condition reads."""
        return frozenset(u.step for u in self.step_uses)

    def evaluate(self, inputs: Mapping[str, Any], steps: Mapping[str, Mapping[str, Any]]) -> bool:
        """True or False; ConditionError if evaluation fails or gives a non-boolean.

        ``steps`` maps a step id to ``{"outputs": {...}, "status": "..."}``.
        """
        context = {
            "inputs": {str(k): _plain(v) for k, v in inputs.items()},
            "steps": {str(sid): {"outputs": _plain(dict(s.get("outputs") or {})),
                                 "status": _plain(s.get("status", ""))}
                      for sid, s in steps.items()},
        }
        if not self.comprehensions:
            # No loop: the cost is linear in the expression and the data; no child needed.
            kind, value = _execute(self.program, context)
        else:
            try:
                kind, value = run_bounded(lambda: _execute(self.program, context),
                                          seconds=EVAL_SECONDS, memory_bytes=EVAL_MEMORY_BYTES)
            except BudgetExceeded as exc:
                raise ConditionError(f"condition {self.source!r} was stopped: {exc}",
                                     expression=self.source,
                                     fix="simplify the condition; a condition only tests "
                                         "values, heavier work belongs in an action") from None
        if kind == "missing":
            raise ConditionError(f"condition {self.source!r} reads {value!r}, which has "
                                 "no value", expression=self.source,
                                 fix="use has(...) to test whether a value exists")
        if kind == "failed":
            raise ConditionError(f"condition {self.source!r} failed: {value}",
                                 expression=self.source)
        if kind == "other":
            raise ConditionError(f"condition {self.source!r} gave {value}, not true or false",
                                 expression=self.source)
        return bool(value)


def _execute(program: Any, context: dict[str, Any]) -> tuple[str, Any]:
    """("value", bool), ("other", repr), ("missing", name) or ("failed", reason):
    plain data, so the answer can come back from a child process as JSON."""
    try:
        result = program.execute(context)
    except KeyError as exc:
        return "missing", str(exc.args[0])
    # The CEL extension raises ValueError, TypeError, RuntimeError and
    # ZeroDivisionError for evaluation failures; all mean the same to a runbook.
    except Exception as exc:
        return "failed", _first_line(exc)
    if isinstance(result, bool):
        return "value", result
    shown = repr(result)
    return "other", shown if len(shown) <= 200 else shown[:197] + "..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _plain(value: Any) -> Any:
    """Only types the CEL extension converts: enums become their value, other objects text."""
    if isinstance(value, Enum):
        return _plain(value.value)
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)


def _blank_strings(source: str) -> str:
    """``source`` with string literals blanked (same length), so names inside quotes
    are not taken for variables."""
    return _STRING.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 1), source)


def _step_uses(source: str, blanked: str) -> list[StepUse]:
    uses: list[StepUse] = []
    for m in _STEP_INDEX.finditer(source):
        if blanked[m.start()] != "s":  # inside a string literal
            continue
        uses.append(_with_field(m.group("id"), source, m.end(), m.start(), False))
    for m in _STEP_DOT.finditer(blanked):
        sid = m.group("id")
        uses.append(_with_field(sid, source, m.end(), m.start(), "-" in sid))
    return sorted(uses, key=lambda u: u.offset)


def _with_field(step: str, source: str, end: int, start: int, hyphenated: bool) -> StepUse:
    m = _AFTER_STEP.match(source, end)
    if m is None:
        return StepUse(step, None, None, start, hyphenated)
    fld = m.group("field")
    out = m.group("out") or m.group("qout") if fld == "outputs" else None
    return StepUse(step, fld, out, start, hyphenated)


def compile_condition(expr: str) -> Condition:
    """Compile a ``when:`` expression; ConditionError says what is wrong and where."""
    if not expr.strip():
        raise ConditionError("the condition is empty", expression=expr)
    if len(expr) > MAX_CONDITION_CHARS:
        raise ConditionError(f"the condition is longer than {MAX_CONDITION_CHARS} characters",
                             expression=expr)
    if "${{" in expr:
        raise ConditionError("when: is a CEL expression; write inputs.NAME or "
                             "steps.ID.outputs.NAME without ${{ }}", expression=expr,
                             column=expr.find("${{") + 1, line=1)
    import cel  # lazily: it loads a CLI toolkit (~0.25 s) the runbook list never needs

    try:
        program = cel.compile(expr)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise _syntax_error(expr, exc) from None
    blanked = _blank_strings(expr)
    comprehensions = _check_cost(expr, _COMMENT.sub(lambda m: " " * len(m.group(0)), blanked))
    bound = set(_BOUND.findall(blanked))
    names = tuple(v for v in program.variables() if v not in VARIABLES and v not in bound)
    functions = tuple(f for f in program.functions()
                      if re.fullmatch(r"[A-Za-z_]\w*", f) and f not in FUNCTIONS)
    inputs = frozenset(
        m.group("name") or m.group("qname") for m in _INPUT.finditer(expr)
        if blanked[m.start()] == "i")
    return Condition(expr, program, inputs, tuple(_step_uses(expr, blanked)), names, functions,
                     comprehensions)


def _check_cost(expr: str, code: str) -> int:
    """The number of comprehensions in ``code`` (``expr`` with strings and comments
    blanked); ConditionError where one nests too deep or ranges over too long a list."""
    macros = {m.end() - 1: m for m in _MACRO.finditer(code)}
    open_: list[tuple[bool, int]] = []  # (is a comprehension, commas seen) per bracket
    list_sizes: dict[int, int] = {}  # index of a list literal's "]" -> its element count
    for i, char in enumerate(code):
        if char in "([{":
            macro = macros.get(i) if char == "(" else None
            if macro is not None:
                depth = 1 + sum(is_macro for is_macro, _ in open_)
                name = macro.group("name")
                if depth > MAX_MACRO_DEPTH:
                    raise _cost_error(expr, macro.start("name"), f".{name}() is comprehension "
                                      f"{depth} levels deep; at most {MAX_MACRO_DEPTH} may nest")
                receiver = code[:macro.start()].rstrip()
                size = list_sizes.get(len(receiver) - 1, 0)
                if size > MAX_LITERAL_RANGE:
                    raise _cost_error(expr, macro.start("name"), f".{name}() ranges over "
                                      f"{size} listed values; at most {MAX_LITERAL_RANGE}")
            open_.append((macro is not None, 0))
        elif char == "," and open_:
            is_macro, commas = open_[-1]
            open_[-1] = (is_macro, commas + 1)
        elif char in ")]}" and open_:
            _, commas = open_.pop()
            if char == "]":
                inner = code[:i].rstrip()
                list_sizes[i] = 0 if inner.endswith("[") else commas + 1
    return len(macros)


def _cost_error(expr: str, offset: int, message: str) -> ConditionError:
    line = expr.count("\n", 0, offset) + 1
    column = offset - (expr.rfind("\n", 0, offset) + 1) + 1
    where = f"column {column}" if line == 1 else f"line {line}, column {column}"
    return ConditionError(f"too costly at {where}: {message}", expression=expr, line=line,
                          column=column,
                          fix="test less in one condition; heavier work belongs in an action")


def _syntax_error(expr: str, exc: BaseException) -> ConditionError:
    text = str(exc)
    m = _CEL_ERROR.search(text)
    if m is None:
        return ConditionError(f"bad condition: {_first_line(exc)}", expression=expr)
    message = m.group("msg").removeprefix("Syntax error: ")
    # ANTLR lists every token it would have accepted; that helps nobody at 3 a.m.
    message = re.sub(r" expecting \{[^}]*\}", "", message)
    message = message.replace("mismatched input '<EOF>'", "the expression ends too early")
    line, col = int(m.group("line")), int(m.group("col"))
    where = f"column {col}" if line == 1 else f"line {line}, column {col}"
    return ConditionError(f"bad CEL at {where}: {message}", expression=expr, line=line,
                          column=col)
