"""The registry of actions by name; plug-in modules (``rescind.plugins``) register into it
on import, on the first lookup."""

from __future__ import annotations

from collections.abc import Iterator

from rescind.actions.base import Action
from rescind.plugins import load_plugins

_ACTIONS: dict[str, type[Action]] = {}  # type: ignore[type-arg]


def register(cls: type[Action]) -> type[Action]:  # type: ignore[type-arg]
    """Class decorator: make ``cls`` available to runbooks under ``cls.name``."""
    if cls.name in _ACTIONS and _ACTIONS[cls.name] is not cls:
        raise ValueError(f"action {cls.name!r} is registered twice")
    _ACTIONS[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    _ACTIONS.pop(name, None)


def get(name: str) -> type[Action] | None:  # type: ignore[type-arg]
    load_plugins()
    return _ACTIONS.get(name)


def names() -> list[str]:
    load_plugins()
    return sorted(_ACTIONS)


def all_actions() -> Iterator[type[Action]]:  # type: ignore[type-arg]
    load_plugins()
    yield from (_ACTIONS[n] for n in sorted(_ACTIONS))
