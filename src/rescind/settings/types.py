"""Value types settings models share."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def _split(value: Any) -> Any:
    # `--set aws.regions=us-east-1,eu-west-1` and RESCIND_AWS_REGIONS give text.
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return value


CommaList = Annotated[list[str], BeforeValidator(_split)]
