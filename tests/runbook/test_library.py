"""Finding runbooks: search dirs, listing (broken ones too), lookup by id or path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rescind.errors import UsageError
from rescind.runbook.library import find_runbook, list_runbooks, runbook_dirs
from tests.runbook.conftest import EXAMPLE, REPO

GOOD = "id: mine\ntitle: Mine\nseverity: high\nclouds: [aws]\ndescription: d\n" \
       "phases:\n  contain:\n    - {id: a, manual: x}\n"


@pytest.fixture
def extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "team-runbooks"
    directory.mkdir()
    monkeypatch.setenv("RESCIND_RUNBOOK_PATH",
                       f"{directory}:{tmp_path / 'does-not-exist'}:{directory}")
    return directory


def test_checkout_dir_is_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESCIND_RUNBOOK_PATH", raising=False)
    assert runbook_dirs()[0] == REPO / "runbooks"


def test_env_dirs_come_first_once_and_only_if_they_exist(extra: Path) -> None:
    dirs = runbook_dirs()
    assert dirs[:2] == [extra, REPO / "runbooks"]
    assert len(dirs) == len({d.resolve() for d in dirs})


def test_list_shows_broken_runbooks_with_their_problems(extra: Path) -> None:
    (extra / "mine.yaml").write_text(GOOD)
    (extra / "broken.yml").write_text("id: broken\ntitle: B\nphases:\n  contain:\n"
                                      "    - {id: a, manual: x, colour: red}\n")
    (extra / "garbage.yaml").write_text("id: [unclosed\n")
    (extra / "notes.txt").write_text("not a runbook")
    (extra / "scenarios").mkdir()
    (extra / "scenarios" / "x.yaml").write_text("not: a runbook\n")
    infos = {i.path.name: i for i in list_runbooks()}
    assert set(infos) >= {"mine.yaml", "broken.yml", "garbage.yaml", "example-tabletop.yaml"}
    assert "notes.txt" not in infos and "x.yaml" not in infos
    mine = infos["mine.yaml"]
    assert (mine.id, mine.title, mine.severity, mine.clouds, mine.description, mine.ok) == (
        "mine", "Mine", "high", ["aws"], "d", True)
    broken = infos["broken.yml"]
    assert (broken.id, broken.title, broken.ok) == ("broken", "B", False)
    assert [str(p) for p in broken.problems] == [
        f"{extra / 'broken.yml'}:5:26: unknown key 'colour' in manual step; expected one of: "
        "id, name, description, when, manual"]
    garbage = infos["garbage.yaml"]
    assert garbage.id == "garbage" and not garbage.ok
    assert "YAML syntax error" in garbage.problems[0].message
    example = infos["example-tabletop.yaml"]
    assert example.ok and example.id == "example-tabletop" and example.path == EXAMPLE


def test_a_shadowed_id_is_reported(extra: Path) -> None:
    (extra / "override.yaml").write_text(EXAMPLE.read_text().replace("Example tabletop",
                                                                     "Our tabletop"))
    infos = [i for i in list_runbooks() if i.id == "example-tabletop"]
    assert [i.path for i in infos] == [extra / "override.yaml", EXAMPLE]
    assert infos[0].ok
    assert [p.message for p in infos[1].problems] == [
        f"id 'example-tabletop' is also used by {extra / 'override.yaml'}, which is the one "
        "that runs"]
    assert find_runbook("example-tabletop") == extra / "override.yaml"


def test_find_by_path_id_or_file_stem(extra: Path, write: Callable[..., Path]) -> None:
    (extra / "named-differently.yaml").write_text(GOOD)
    path = write(GOOD, "anywhere.yaml")
    assert find_runbook(path) == path
    assert find_runbook(str(path)) == path
    assert find_runbook("example-tabletop") == EXAMPLE
    assert find_runbook("mine") == extra / "named-differently.yaml"
    assert find_runbook("named-differently") == extra / "named-differently.yaml"


def test_unknown_id_lists_what_exists(extra: Path) -> None:
    (extra / "mine.yaml").write_text(GOOD)
    with pytest.raises(UsageError) as info:
        find_runbook("example-tabletp")
    assert info.value.message == "no runbook named 'example-tabletp'; did you mean " \
                                 "'example-tabletop'?"
    assert info.value.fix is not None
    assert info.value.fix.startswith("available: ")
    assert {"example-tabletop", "mine"} <= set(info.value.fix.removeprefix("available: ")
                                               .split(", "))


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"runbook file .*nope\.yaml not found"):
        find_runbook(tmp_path / "nope.yaml")
    with pytest.raises(UsageError, match="is a directory"):
        find_runbook(tmp_path)


def test_index_serves_unchanged_files_and_revalidates_changed_ones(
        extra: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's index (what makes the app's list appear at once) never shows a
    stale verdict: a file whose content changed is validated again."""
    from rescind.runbook import library

    path = extra / "mine.yaml"
    path.write_text(GOOD)
    first = {i.id: i for i in list_runbooks()}
    assert first["mine"].ok
    analysed: list[Path] = []
    real = library._info
    monkeypatch.setattr(library, "_info", lambda p: analysed.append(p) or real(p))
    again = {i.id: i for i in list_runbooks()}
    assert analysed == [] and again["mine"].title == "Mine" and again["mine"].ok
    path.write_text(GOOD.replace("manual: x", "bogus: x"))
    broken = {i.id: i for i in list_runbooks()}
    assert analysed == [path] and not broken["mine"].ok
    assert [i.problems for i in list_runbooks(use_index=False)] == \
        [i.problems for i in list_runbooks()]
