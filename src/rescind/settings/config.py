"""The effective settings: defaults < config file < environment < flags, with origins.

Every value keeps where it came from (``rescind.toml:4``, ``RESCIND_AWS_PROFILE``,
``--set aws.regions``, ``--profile``), so a problem names the line or flag to fix
and ``rescind config show`` can say why each value is what it is.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rescind.errors import UsageError
from rescind.runbook.messages import did_you_mean
from rescind.settings.toml_lines import key_lines, line_of
from rescind.settings.validate import problems

CONFIG_FILE = "rescind.toml"
ENV_PREFIX = "RESCIND_"
Path_ = tuple[str, ...]


class ApproversSettings(BaseModel):
    """``[approvers]``: whose signatures count for two-person approvals."""

    model_config = ConfigDict(extra="forbid")
    allowed_signers: str | None = Field(default=None, description="allowed_signers file of "
                                        "keys trusted to approve")


# ``[notify]`` is the notify provider's table (rescind.notify.settings).
CORE_TABLES: dict[str, type[BaseModel]] = {"approvers": ApproversSettings}


class SettingsError(UsageError):
    """Every problem in the settings, each as ``WHERE: message``."""

    def __init__(self, found: list[str]) -> None:
        super().__init__("invalid settings:\n  " + "\n  ".join(found),
                         fix="correct them; `rescind config show` prints what is in effect")
        self.problems = found


@dataclass
class Effective:
    """Nested tables of set values (defaults excluded), and each leaf's origin."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[Path_, str] = field(default_factory=dict)
    file: Path | None = None

    def set(self, path: Path_, value: Any, origin: str) -> None:
        # A value replaces whatever was set at, above or below its path.
        for known in [p for p in self.origins if p[:len(path)] == path
                      or path[:len(p)] == p]:
            del self.origins[known]
        node = self.values
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
        self.origins[path] = origin

    def origin(self, path: Path_) -> str:
        """Where ``path`` (or what it lies in, or what lies in it) was set; else default."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.origins:
                return self.origins[path[:end]]
        inside = sorted(o for p, o in self.origins.items() if p[:len(path)] == path)
        return inside[0] if inside else "default"


def tables() -> dict[str, type[BaseModel]]:
    """Every table a settings file may hold: each registered provider's and the core ones."""
    from rescind.providers import registry

    found = {name: registry.require(name).Settings for name in registry.names()}
    return found | CORE_TABLES


def default_path() -> Path:
    from rescind.dirs import config_dir

    return config_dir() / CONFIG_FILE


def _leaves(value: Any, path: Path_) -> Iterable[tuple[Path_, Any]]:
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            yield from _leaves(inner, (*path, str(key)))
    else:
        yield path, value


def _text_value(text: str) -> Any:
    """A flag's or variable's text: JSON when it is a list or table, else the text."""
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def resolve(*, config: Path | None = None, sets: Iterable[str] = (),
            flags: Iterable[tuple[Path_, Any, str]] = (),
            environ: Mapping[str, str] | None = None) -> Effective:
    """Read every layer and validate each table; SettingsError lists every problem."""
    known = tables()
    effective = Effective()
    found: list[str] = []
    path = config if config is not None else default_path()
    if config is not None or path.is_file():
        effective.file = path
        _read_file(path, effective, found)
    env = os.environ if environ is None else environ
    for table, model in known.items():
        for name in model.model_fields:
            var = f"{ENV_PREFIX}{table}_{name}".upper()
            if env.get(var):
                effective.set((table, name), _text_value(env[var]), var)
    for item in sets:
        key, sep, text = item.partition("=")
        dotted = tuple(p.strip() for p in key.split(".")) if sep else ()
        if len(dotted) < 2 or not all(dotted):
            found.append(f"--set {key}: expected TABLE.KEY=VALUE, e.g. "
                         "--set aws.regions=us-east-1,eu-west-1")
            continue
        effective.set(dotted, _text_value(text), f"--set {key}")
    for dotted, value, origin in flags:
        effective.set(dotted, value, origin)
    found += sorted(_check(effective, known), key=_place)
    if found:
        raise SettingsError(found)
    return effective


def _read_file(path: Path, effective: Effective, found: list[str]) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror}",
                         fix="check the path given to --config") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line 3, column 7)"; lead with the place like other problems.
        message = str(exc)
        where = message.rsplit("(at line ", 1)
        line = where[1].split(",")[0] if len(where) == 2 else "1"
        found.append(f"{path}:{line}: not valid TOML: {where[0].strip()}")
        return
    lines = key_lines(text)
    for leaf, value in _leaves(data, ()):
        if leaf:
            effective.set(leaf, value, f"{path}:{line_of(lines, leaf) or 1}")


def _place(problem: str) -> tuple[str, int]:
    """File problems in line order (``FILE:LINE: ...``), flags and variables after."""
    head = problem.partition(": ")[0]
    name, _, line = head.rpartition(":")
    return (name, int(line)) if line.isdigit() else ("~" + head, 0)


def _check(effective: Effective, known: Mapping[str, type[BaseModel]]) -> list[str]:
    found: list[str] = []
    for table, value in effective.values.items():
        where = effective.origin((table,))
        if table not in known:
            found.append(f"{where}: unknown table [{table}]"
                         + (did_you_mean(table, known) or f"; known: {', '.join(known)}"))
            continue
        if not isinstance(value, Mapping):
            found.append(f"{where}: {table} must be a table ([{table}]), not a single value")
            continue
        for loc, message in problems(known[table], value):
            path = (table, *(str(p) for p in loc))
            found.append(f"{effective.origin(path)}: [{table}] {message}")
    return found


def session_settings(effective: Effective) -> dict[str, Any]:
    """The tables as an incident's settings: what the engine and providers read."""
    values = {k: v for k, v in effective.values.items() if k != "approvers"}
    approvers = effective.values.get("approvers", {}).get("allowed_signers")
    if approvers:
        values["approvers"] = str(Path(str(approvers)).expanduser().resolve())
    return values
