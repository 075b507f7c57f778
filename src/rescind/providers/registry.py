"""The registry of cloud providers by name; a provider's module registers on import.

``@providers.register("aws")`` (``from rescind.providers import registry as
providers``) on a ProviderBase subclass makes it available to runbooks (``clouds:``),
to actions that declare it, to exercise mode and to the config file's ``[aws]``
table. The modules that register are found through ``rescind.plugins`` (the
``rescind.plugins`` entry points), imported on first lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rescind.errors import UsageError
from rescind.modes import Mode
from rescind.plugins import load_plugins
from rescind.providers.base import Provider, ProviderBase, table

_PROVIDERS: dict[str, type[ProviderBase]] = {}
C = TypeVar("C", bound=type[ProviderBase])


def register(name: str) -> Callable[[C], C]:
    """Class decorator: make the provider class available under ``name``."""
    def decorate(cls: C) -> C:
        if name in _PROVIDERS and _PROVIDERS[name] is not cls:
            raise ValueError(f"provider {name!r} is registered twice")
        cls.name = name
        _PROVIDERS[name] = cls
        return cls
    return decorate


def unregister(name: str) -> None:
    _PROVIDERS.pop(name, None)


def get(name: str) -> type[ProviderBase] | None:
    load_plugins()
    return _PROVIDERS.get(name)


def names() -> list[str]:
    load_plugins()
    return sorted(_PROVIDERS)


def require(name: str) -> type[ProviderBase]:
    cls = get(name)
    if cls is None:
        raise UsageError(f"no provider for cloud {name!r} in this version of rescind",
                         fix="remove its steps from the runbook, or install the plug-in "
                             "that provides it")
    return cls


def build_providers(clouds: set[str], mode: Mode, settings: Mapping[str, Any], *,
                    incident_id: str | None = None) -> dict[str, Provider]:
    """One provider per cloud in ``clouds``, each from its validated settings table.

    In exercise mode the engine has started each cloud's sandbox first and put its
    table (endpoints, the simulated responder's credentials) into ``settings``.
    """
    from rescind.settings.validate import provider_settings

    providers: dict[str, Provider] = {}
    try:
        for name in sorted(clouds):
            cls = require(name)
            providers[name] = cls.from_settings(provider_settings(cls, table(settings, name)),
                                                mode, incident_id=incident_id)
    except BaseException:
        close_all(providers)
        raise
    return providers


def close_all(providers: Mapping[str, Any]) -> None:
    """Close every provider that can be closed; one failing to close stops none of the others."""
    for provider in providers.values():
        close = getattr(provider, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                continue
