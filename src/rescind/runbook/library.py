"""Where runbooks are found: the checkout's ``runbooks/``, the installed copy, and
``RESCIND_RUNBOOK_PATH``; listing them (broken ones too, with their problems) and
finding one by id or path.

Listing validates every runbook, which needs YAML, pydantic and every action's
model (half a second before the first runbook is known). What a listing found is
kept in an index in the cache folder, keyed by each file's SHA-256 and by the
rescind code that validated it, so the app's library appears at once; a changed
file, or a changed rescind, is validated again. The index only speeds the list:
starting a runbook always validates the file itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rescind.errors import UsageError
from rescind.runbook.problems import Problem

ENV_PATH = "RESCIND_RUNBOOK_PATH"
SUFFIXES = (".yaml", ".yml")
INDEX_FILE = "runbook-index.json"


@dataclass
class RunbookInfo:
    id: str
    title: str
    severity: str
    clouds: list[str]
    description: str
    path: Path
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def runbook_dirs() -> list[Path]:
    """Directories searched for runbooks, first match wins: RESCIND_RUNBOOK_PATH entries
    (so a team can override a shipped runbook), the checkout's ``runbooks/``, and the
    copy installed with the package."""
    here = Path(__file__).resolve()
    candidates = [Path(p).expanduser() for p in os.environ.get(ENV_PATH, "").split(os.pathsep)
                  if p.strip()]
    candidates += [here.parents[3] / "runbooks", here.parents[1] / "_runbooks"]
    dirs: list[Path] = []
    seen: set[Path] = set()
    for d in candidates:
        if d.is_dir() and d.resolve() not in seen:
            seen.add(d.resolve())
            dirs.append(d)
    return dirs


def runbook_files(directory: Path) -> list[Path]:
    """The runbook files directly in ``directory`` (not its subfolders: scenarios live there)."""
    return sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())


def _info(path: Path) -> RunbookInfo:
    from rescind.runbook.loader import RunbookError, analyse_file
    from rescind.runbook.validate import check_analysis

    try:
        analysis = analyse_file(path)
    except RunbookError as exc:
        return RunbookInfo(path.stem, "", "", [], "", path, exc.problems)
    problems = check_analysis(analysis)
    if analysis.loaded is not None:
        rb = analysis.loaded.runbook
        return RunbookInfo(rb.id, rb.title, rb.severity, list(rb.clouds), rb.description, path,
                           problems)
    raw = analysis.raw or {}

    def text(key: str) -> str:
        value = raw.get(key)
        return value if isinstance(value, str) else ""

    clouds = raw.get("clouds")
    return RunbookInfo(text("id") or path.stem, text("title"), text("severity"),
                       [c for c in clouds if isinstance(c, str)] if isinstance(clouds, list)
                       else [], text("description"), path, problems)


def list_runbooks(*, use_index: bool = True) -> list[RunbookInfo]:
    """Every runbook in :func:`runbook_dirs`, in search order; a broken one is listed
    with its problems, and a later one reusing an earlier id says it is shadowed.

    ``use_index``: take what an earlier listing found for a file with the same
    content and the same rescind (see the module's docstring)."""
    infos: list[RunbookInfo] = []
    first: dict[str, Path] = {}
    index = _Index.load() if use_index else None
    for directory in runbook_dirs():
        for path in runbook_files(directory):
            info = index.info(path) if index is not None else _info(path)
            if info.id in first:
                info.problems.append(Problem(str(path), 1, 1, f"id '{info.id}' is also used by "
                                             f"{first[info.id]}, which is the one that runs"))
            else:
                first[info.id] = path
            infos.append(info)
    if index is not None:
        index.save()
    return infos


class _Index:
    """RunbookInfo per file, valid for one file content and one rescind code stamp."""

    def __init__(self, stamp: str, entries: dict[str, Any]) -> None:
        self.stamp = stamp
        self.entries = entries
        self.used: dict[str, Any] = {}

    @classmethod
    def load(cls) -> _Index:
        stamp = _code_stamp()
        try:
            data = json.loads((_index_path()).read_text(encoding="utf-8"))
            entries = data["entries"] if data.get("stamp") == stamp else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            entries = {}  # no index yet, or an unreadable one: validate everything
        return cls(stamp, entries if isinstance(entries, dict) else {})

    def info(self, path: Path) -> RunbookInfo:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return _info(path)  # reports the unreadable file as a problem
        key = str(path.resolve())
        cached = self.entries.get(key)
        info = _from_json(path, cached) if isinstance(cached, dict) and \
            cached.get("sha256") == digest else None
        if info is None:
            info = _info(path)
            cached = {"sha256": digest, **_to_json(info)}
        self.used[key] = cached
        return info

    def save(self) -> None:
        if self.used == self.entries:
            return
        path = _index_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"stamp": self.stamp, "entries": self.used}),
                           encoding="utf-8")
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache only costs the next listing its speed


def _index_path() -> Path:
    from rescind.dirs import cache_dir

    return cache_dir() / INDEX_FILE


def _code_stamp() -> str:
    """rescind's version and its newest source file: validation depends on the code."""
    from rescind import __version__

    package = Path(__file__).resolve().parents[1]
    newest = 0
    # os.walk, not Path.rglob: a fifth of the time, and this runs on every start while
    # home paints (the runbook list waits for it).
    for folder, _, names in os.walk(package):
        for name in names:
            if name.endswith(".py"):
                newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime_ns)
    return f"{__version__}:{newest}"


def _to_json(info: RunbookInfo) -> dict[str, Any]:
    data = asdict(info)
    data["path"] = str(info.path)
    return data


def _from_json(path: Path, data: dict[str, Any]) -> RunbookInfo | None:
    try:
        return RunbookInfo(id=str(data["id"]), title=str(data["title"]),
                           severity=str(data["severity"]),
                           clouds=[str(c) for c in data["clouds"]],
                           description=str(data["description"]), path=path,
                           problems=[Problem(str(p["file"]), int(p["line"]), int(p["col"]),
                                             str(p["message"])) for p in data["problems"]])
    except (KeyError, TypeError, ValueError):
        return None


def find_runbook(name_or_path: str | Path) -> Path:
    """The runbook file for a path or a runbook id; UsageError names the ids available."""
    candidate = Path(name_or_path).expanduser()
    text = str(name_or_path)
    if candidate.is_file():
        return candidate
    looks_like_path = os.sep in text or "/" in text or candidate.suffix in SUFFIXES
    if candidate.is_dir():
        raise UsageError(f"{text} is a directory, not a runbook",
                         fix="pass a runbook file or a runbook id")
    if not looks_like_path:
        infos = list_runbooks()
        for info in infos:
            if info.id == text:
                return info.path
        for info in infos:  # a file named after the id, even if its id is broken
            if info.path.stem == text:
                return info.path
        from rescind.runbook.messages import did_you_mean

        ids = sorted({i.id for i in infos})
        hint = did_you_mean(text, ids).removeprefix("; ")
        raise UsageError(f"no runbook named '{text}'" + (f"; {hint}" if hint else ""),
                         fix=f"available: {', '.join(ids)}" if ids else
                         f"no runbooks found; pass a path or set {ENV_PATH}")
    raise UsageError(f"runbook file {text} not found",
                     fix="check the path, or pass a runbook id")
