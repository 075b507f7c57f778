"""Reading a scenario file: one YAML mapping, and errors that name the file and the field.

Each cloud's part of a scenario validates with its own model; how the file is read and
how a mistake is told is the same for all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rescind.errors import UsageError

M = TypeVar("M", bound=BaseModel)


def read_mapping(path: Path, *, first_keys: str) -> dict[str, Any]:
    """The scenario at ``path`` as a mapping; ``first_keys`` are named in the fix."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read scenario {path}: {exc.strerror}",
                         fix="check the path") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}", fix="fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a scenario is a YAML mapping",
                         fix=f"start the file with keys like {first_keys}")
    return data


def validate(model: type[M], data: Any, path: Path, *, docs: str, within: str = "",
             docs_for: dict[str, str] | None = None) -> M:
    """``data`` as ``model``; the first error says FILE:LINE and the field (``within``
    prefixes it); ``docs_for`` names another page for errors under a top-level key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(within.rstrip(".").split(".") if within else ()) + tuple(first["loc"])
        where = ".".join(str(p) for p in loc)
        page = (docs_for or {}).get(str(first["loc"][0]) if first["loc"] else "", docs)
        message = first["msg"].removeprefix("Value error, ")
        raise UsageError(f"{path}:{line_of(path, loc)}: {where}: {message} "
                         f"({len(exc.errors())} error(s))",
                         fix=f"see {page} for the scenario format") from None


def line_of(path: Path, loc: tuple[Any, ...]) -> int:
    """The line of a validation error's location in the scenario file (1 if unknown)."""
    from rescind.runbook.problems import nearest
    from rescind.runbook.yamltree import parse

    try:
        tree = parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UsageError):
        return 1
    # pydantic appends the failing validator's context (a model name) past the data.
    return nearest(tree.positions, tuple(p for p in loc if isinstance(p, (int, str)))).line
