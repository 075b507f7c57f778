"""Static text that is never read as Rich markup.

Runbook text, plans, patterns and errors are full of square brackets
(``^AKIA[A-Z0-9]{16}$``, ``[redacted]``, ARNs); as markup they would vanish or
raise. Every text widget of the app is a Plain.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Static


class Plain(Static):
    def __init__(self, content: Any = "", **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        super().__init__(content, **kwargs)
