"""Where a runbook problem is and what it is: Mark, Problem, RunbookError."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rescind.errors import UsageError


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


def nearest(positions: dict[tuple[Any, ...], Mark], path: tuple[Any, ...]) -> Mark:
    while path and path not in positions:
        path = path[:-1]
    return positions.get(path, Mark(1, 1))
