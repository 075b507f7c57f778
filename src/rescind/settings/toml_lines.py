"""Where each key of a TOML file is, so a settings problem names its line.

tomllib returns values only; this reads the table headers and ``key =`` lines
again to map a dotted key path to the line that sets it.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[?\s*(?P<key>[^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"""^\s*(?P<key>(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
                     r"""(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_PART = re.compile(r"""[A-Za-z0-9_-]+|"([^"]*)"|'([^']*)'""")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(m.group(1) if m.group(1) is not None else
                 m.group(2) if m.group(2) is not None else m.group(0)
                 for m in _PART.finditer(dotted))


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Dotted key path → the line (1-based) of its header or assignment."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    depth = 0  # inside a multi-line array, lines are values, not keys
    for number, line in enumerate(text.splitlines(), start=1):
        if depth == 0:
            header = _HEADER.match(line)
            if header:
                table = _parts(header.group("key"))
                lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if assign:
                path = table + _parts(assign.group("key"))
                lines.setdefault(path, number)
                for inner in re.finditer(r"([A-Za-z0-9_-]+)\s*=", line[assign.end():]):
                    lines.setdefault((*path, inner.group(1)), number)
        depth = max(0, depth + line.count("[") - line.count("]")) if not _HEADER.match(line) \
            else 0
    return lines


def line_of(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    """The line of ``path``, else of its nearest enclosing key that the file names."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
