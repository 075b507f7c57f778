"""Text from a runbook, a plan file or a cloud, made safe to show on a terminal.

A title holding ``ESC ] 0;… BEL`` retitles the window, ``ESC [1A ESC [2K`` erases the
line above, ``ESC [8m`` hides what follows, and U+202E (RIGHT-TO-LEFT OVERRIDE) shows
text in another order than it is stored. ``visible`` shows such characters as
escapes instead (``\\x1b``, ``\\u202e``); ``name_warning`` tells a responder who is
about to type a target's name that it holds characters that can imitate others.
Every front end uses these two (the headless runner, ``rescind approve``, the TUI).
"""

from __future__ import annotations

import unicodedata

# Characters that reorder the text around them (Unicode bidi controls and marks).
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Control, format (zero-width, bidi), line/paragraph separator, surrogate.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: object, *, multiline: bool = False) -> str:
    """``str(text)`` with control, format and bidi characters shown as escapes.

    With ``multiline``, newlines and tabs are kept (manual text, a whole message);
    otherwise the result is one line.
    """
    value = str(text)
    if value.isascii() and value.isprintable():
        return value
    kept = "\n\t" if multiline else ""
    return "".join(_escape(c) if c not in kept and unicodedata.category(c)
                   in _HIDDEN_CATEGORIES else c for c in value)


def name_warning(name: str) -> str | None:
    """A warning for a typed confirmation when ``name`` is not plain printable ASCII:
    such a name can look like another (Cyrillic 'а' for Latin 'a') or be reordered
    on screen. None for a plain name."""
    if name.isascii() and name.isprintable():
        return None
    odd = [(i, c) for i, c in enumerate(name, start=1)
           if not (c.isascii() and c.isprintable())]
    shown = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')} at {i}"
                      for i, c in odd[:3])
    more = f" and {len(odd) - 3} more" if len(odd) > 3 else ""
    kind = "reorders text on screen" if any(c in BIDI for _, c in odd) else \
        "can imitate another name"
    return (f"the name {visible(name)} has characters that are not plain ASCII ({shown}"
            f"{more}); such a name {kind}: check it character by character")
