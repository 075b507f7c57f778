"""How each timeline source is shown: a text label always, a colour as well.

The label carries the meaning (NO_COLOR terminals and colour-blind responders
read it); the colour only helps the eye group rows.
"""

from __future__ import annotations

from typing import NamedTuple


class SourceStyle(NamedTuple):
    label: str
    colour: str
    short: str = ""  # for narrow terminals (80 columns)


SOURCES: dict[str, SourceStyle] = {
    "cloudtrail": SourceStyle("AWS CloudTrail", "#ff9900", "CloudTrail"),
    "graph.audit": SourceStyle("Entra audit", "#3b9cff", "Entra"),
    "graph.signin": SourceStyle("Entra sign-in", "#5fd7ff", "Sign-in"),
    "azure.activity": SourceStyle("Azure activity", "#8f9cff", "Azure"),
    "gcp.audit": SourceStyle("GCP audit", "#34c759", "GCP"),
    "rescind": SourceStyle("rescind", "#e070e0", "rescind"),
}


def source_style(source: str) -> SourceStyle:
    return SOURCES.get(source, SourceStyle(source or "unknown", "#a0a0a0", source[:10]))


def source_label(source: str) -> str:
    return source_style(source).label
