"""The registry of actions by name; providers' modules register into it on import."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from rescind.actions.base import Action

_ACTIONS: dict[str, type[Action]] = {}  # type: ignore[type-arg]

# Modules whose import registers built-in actions. Their SDKs are imported lazily
# inside the actions, so importing these stays cheap.
BUILTIN_MODULES: tuple[str, ...] = ("rescind.actions.aws", "rescind.actions.entra",
                                     "rescind.actions.gcp", "rescind.actions.notify",
                                     "rescind.actions.timeline", "rescind.actions.vault")


def register(cls: type[Action]) -> type[Action]:  # type: ignore[type-arg]
    """Class decorator: make ``cls`` available to runbooks under ``cls.name``."""
    if cls.name in _ACTIONS and _ACTIONS[cls.name] is not cls:
        raise ValueError(f"action {cls.name!r} is registered twice")
    _ACTIONS[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    _ACTIONS.pop(name, None)


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def get(name: str) -> type[Action] | None:  # type: ignore[type-arg]
    _load_builtins()
    return _ACTIONS.get(name)


def names() -> list[str]:
    _load_builtins()
    return sorted(_ACTIONS)


def all_actions() -> Iterator[type[Action]]:  # type: ignore[type-arg]
    _load_builtins()
    yield from (_ACTIONS[n] for n in sorted(_ACTIONS))
