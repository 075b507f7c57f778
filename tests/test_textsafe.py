"""Terminal escapes from a runbook, a plan file or a cloud never reach the terminal."""

from __future__ import annotations

import pytest

from rescind.textsafe import name_warning, visible

HOSTILE = "a\x1b]0;pwned\x07b\x1b[2Jc\u202ed\x1b[1A\x1b[2K\x1b[8m\u2066e\x9bf\u200bg\u2028h"


def test_visible_shows_every_control_and_bidi_character_as_an_escape() -> None:
    assert visible(HOSTILE) == ("a\\x1b]0;pwned\\x07b\\x1b[2Jc\\u202ed\\x1b[1A\\x1b[2K"
                                "\\x1b[8m\\u2066e\\x9bf\\u200bg\\u2028h")
    assert visible("line\nnext\ttab") == "line\\x0anext\\x09tab"
    assert visible("line\nnext\ttab\x1b", multiline=True) == "line\nnext\ttab\\x1b"


@pytest.mark.parametrize("text", ["plain ASCII", "café", "日本語", "AKIAIOSFODNN7EXAMPLE", ""])
def test_visible_leaves_printable_text_alone(text: str) -> None:
    assert visible(text) == text


def test_visible_is_idempotent_and_takes_any_object() -> None:
    assert visible(visible(HOSTILE)) == visible(HOSTILE)
    assert visible(None) == "None"


def test_name_warning_names_the_odd_characters() -> None:
    assert name_warning("deploy-bot") is None
    homoglyph = name_warning("dеploy-bot")  # Cyrillic е
    assert homoglyph is not None
    assert "U+0435 CYRILLIC SMALL LETTER IE at 2" in homoglyph
    assert "can imitate another name" in homoglyph
    bidi = name_warning("admin\u202etob")
    assert bidi is not None and "\u202e" not in bidi
    assert "U+202E RIGHT-TO-LEFT OVERRIDE at 6" in bidi and "reorders text" in bidi
