"""Exercise mode's capture sink for notifications.

Nothing is simulated on the network: the notify provider in capture mode keeps
each message it would have sent, and the session journals and shows it. The
scenario's ``notify:`` block supplies tabletop recipients where the responder's
config defines none (docs/notify.md, Exercise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class CaptureSandbox:
    def __init__(self, scenario: Path | None) -> None:
        self.routing: dict[str, Any] = {}
        if scenario is not None and scenario.is_file():
            import yaml

            try:
                data = yaml.safe_load(scenario.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                data = None  # the cloud's own sandbox reports a broken scenario
            block = data.get("notify") if isinstance(data, dict) else None
            if isinstance(block, dict):
                self.routing = block

    def provider_settings(self) -> dict[str, Any]:
        table: dict[str, Any] = {"capture": True}
        if self.routing:
            table["scenario"] = self.routing
        return table

    def stop(self) -> None:
        """Nothing runs."""
