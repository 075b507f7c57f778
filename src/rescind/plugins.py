"""Which modules to import so that every cloud is registered: the ``rescind.plugins`` entry points.

A plug-in is a module whose import registers what it brings (a provider, actions, a
timeline source). rescind's own clouds are plug-ins like any other, declared in its
``pyproject.toml``, so adding one edits no list in ``src/``. They are imported on the
first lookup of any registry, not at start-up.

rescind's own entry points are read from its ``pyproject.toml`` when it runs from a
source checkout (an editable install or ``PYTHONPATH=src``): an editable install's
metadata keeps the entry points of the day it was installed, and would miss a cloud
added since. An installed wheel has no such file and its metadata is current.
Third parties' entry points always come from the installed metadata.
"""

from __future__ import annotations

import importlib
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

GROUP = "rescind.plugins"
_OWN = "rescind."  # rescind's own plug-in modules, whichever list names them

_loaded = False


def load_plugins() -> None:
    """Import every plug-in module once (later calls return at once)."""
    global _loaded
    if _loaded:
        return
    # Set first: a plug-in whose import looks something up must not start this again.
    _loaded = True
    for module in own_modules():
        importlib.import_module(module)
    for point in entry_points(group=GROUP):
        if not point.value.startswith(_OWN):
            point.load()


def own_modules() -> list[str]:
    """rescind's own plug-in modules: the checkout's pyproject.toml, else the metadata."""
    declared = _checkout_entry_points()
    if declared is None:
        declared = [p.value for p in entry_points(group=GROUP) if p.value.startswith(_OWN)]
    return [value.partition(":")[0].strip() for value in declared]


def _checkout_entry_points() -> list[str] | None:
    """The ``rescind.plugins`` values of the source checkout this module runs from, if any."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    if project.get("name") != "rescind":
        return None
    points = project.get("entry-points", {}).get(GROUP, {})
    return [str(v) for v in points.values()]
