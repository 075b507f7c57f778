"""Responders' own keys: ``keymap.json`` in the rescind config folder remaps bindings by id.

    {"incident.timeline": "f2", "app.quit": "q,f10"}

Every binding has an id (the help screen and docs/screens.md list them); keys are
Textual key names, comma-separated for several.
"""

from __future__ import annotations

import json
from pathlib import Path

KEYMAP_FILE = "keymap.json"


def load_keymap() -> tuple[dict[str, str], str | None]:
    """(binding id → keys, problem); a broken file is reported, never fatal."""
    from rescind.dirs import config_dir

    path: Path = config_dir() / KEYMAP_FILE
    if not path.is_file():
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, f"{path}: not readable JSON ({exc}); using the default keys"
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        return {}, f"{path}: expected an object of binding id to keys; using the default keys"
    return data, None
