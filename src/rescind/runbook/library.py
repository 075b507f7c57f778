"""Where runbooks are found: the checkout's ``runbooks/``, the installed copy, and
``RESCIND_RUNBOOK_PATH``; listing them (broken ones too, with their problems) and
finding one by id or path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rescind.errors import UsageError
from rescind.runbook.loader import Problem, RunbookError, analyse_file
from rescind.runbook.messages import did_you_mean
from rescind.runbook.validate import check_analysis

ENV_PATH = "RESCIND_RUNBOOK_PATH"
SUFFIXES = (".yaml", ".yml")


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


def list_runbooks() -> list[RunbookInfo]:
    """Every runbook in :func:`runbook_dirs`, in search order; a broken one is listed
    with its problems, and a later one reusing an earlier id says it is shadowed."""
    infos: list[RunbookInfo] = []
    first: dict[str, Path] = {}
    for directory in runbook_dirs():
        for path in runbook_files(directory):
            info = _info(path)
            if info.id in first:
                info.problems.append(Problem(str(path), 1, 1, f"id '{info.id}' is also used by "
                                             f"{first[info.id]}, which is the one that runs"))
            else:
                first[info.id] = path
            infos.append(info)
    return infos


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
        ids = sorted({i.id for i in infos})
        hint = did_you_mean(text, ids).removeprefix("; ")
        raise UsageError(f"no runbook named '{text}'" + (f"; {hint}" if hint else ""),
                         fix=f"available: {', '.join(ids)}" if ids else
                         f"no runbooks found; pass a path or set {ENV_PATH}")
    raise UsageError(f"runbook file {text} not found",
                     fix="check the path, or pass a runbook id")
