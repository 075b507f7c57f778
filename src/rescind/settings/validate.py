"""Validate one table against its settings model, with messages a responder can act on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from rescind.errors import UsageError
from rescind.runbook.messages import did_you_mean, value_message

_SECRET_PARTS = ("secret", "token", "password", "external_id")
Problem = tuple[tuple[str | int, ...], str]


def problems(model: type[BaseModel], data: Mapping[str, Any]) -> list[Problem]:
    """(location within the table, message) for everything wrong with ``data``."""
    try:
        model.model_validate(dict(data))
    except ValidationError as exc:
        found: list[Problem] = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            found.append((loc, _message(model, loc, err)))
        return found
    return []


def _message(model: type[BaseModel], loc: tuple[Any, ...], err: Any) -> str:
    kind = err["type"]
    name = ".".join(str(p) for p in loc)
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        return f"unknown setting '{name}'" + (did_you_mean(str(loc[-1]), known)
                                              or f"; known: {', '.join(known)}")
    if kind == "missing":
        return f"'{name}' is required"
    text = value_message(err, err.get("input"))
    if any(part in name for part in _SECRET_PARTS):
        text = text.split(", found ")[0]  # never echo what may be a secret
    return f"{name}: {text}"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model at ``loc`` (the top model when the path is not a model's)."""
    current: Any = model
    for part in loc:
        field = current.model_fields.get(str(part)) if isinstance(current, type) and \
            issubclass(current, BaseModel) else None
        if field is None:
            break
        current = field.annotation
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return list(model.model_fields)


def provider_settings(cls: Any, table: Mapping[str, Any]) -> BaseModel:
    """``cls.Settings`` from ``table``; a problem is one UsageError naming every field."""
    model: type[BaseModel] = cls.Settings
    found = problems(model, table)
    if found:
        raise UsageError(f"[{cls.name}] settings: " + "; ".join(m for _, m in found),
                         fix="correct them in rescind.toml or --set; "
                             "`rescind config show` prints what is in effect")
    return model.model_validate(dict(table))
