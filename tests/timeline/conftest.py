"""Timeline fixtures: hand-written CloudTrail records of every identity type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
# Secrets planted in the fixture records; none may appear in any export.
CANARIES = ("CANARYsecretDoNotExport", "CANARYsessionTokenDoNotExport",
            "CANARYpasswordDoNotExport")


@pytest.fixture
def records() -> list[dict[str, Any]]:
    data: dict[str, list[dict[str, Any]]] = json.loads((DATA / "records.json").read_text())
    return data["Records"]
