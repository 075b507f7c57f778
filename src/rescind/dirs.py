"""Where rescind keeps its own files: the config folder (identity, settings, keymap)
and the cache folder (the runbook library's index).

A module of its own, importing nothing heavy, so the app's first screens can find
these folders without loading the signing code.
"""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """``$RESCIND_CONFIG_DIR``, else ``platformdirs.user_config_dir("rescind")``."""
    env = os.environ.get("RESCIND_CONFIG_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("rescind"))


def cache_dir() -> Path:
    """``cache/`` in ``$RESCIND_CONFIG_DIR`` when that is set (an isolated config keeps
    everything together), else ``platformdirs.user_cache_dir("rescind")``."""
    env = os.environ.get("RESCIND_CONFIG_DIR")
    if env:
        return Path(env) / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir("rescind"))
