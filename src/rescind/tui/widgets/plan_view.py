"""A plan as a responder reads it: before → after per target, risk, reversibility, warnings.

Everything that matters is said in words (IRREVERSIBLE, RISK HIGH, the arrow), so
the plan reads the same on a NO_COLOR terminal; colour only adds emphasis.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from rescind.actions.base import Change, Plan

# A NO_COLOR terminal gets greys by luminance (Textual's Monochrome filter): red text or
# reverse red on black comes out dark grey on near black. White on red reads in both, and
# the before value's red is light enough to stay mid grey.
ALARM = "bold #ffffff on #c0000c"
BEFORE = "#ff6e6e"
RISK_STYLE = {"low": "bold green", "medium": "bold yellow", "high": ALARM, "critical": ALARM}


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def risk_text(plan: Plan) -> Text:
    text = Text()
    text.append(f"[RISK {plan.risk.value.upper()}]", style=RISK_STYLE[plan.risk.value])
    text.append("  ")
    if not plan.mutating:
        text.append("read-only", style="green")
    elif plan.reversible:
        text.append("reversible", style="green")
    else:
        text.append("[IRREVERSIBLE]", style=ALARM)
    return text


def _changes_by_target(plan: Plan) -> dict[str, list[Change]]:
    grouped: dict[str, list[Change]] = {target: [] for target in plan.targets}
    for change in plan.changes:
        grouped.setdefault(change.target, []).append(change)
    return grouped


def render_plan(plan: Plan, *, with_header: bool = True) -> RenderableType:
    parts: list[RenderableType] = []
    if with_header:
        parts.append(Text(plan.summary or plan.action, style="bold"))
        parts.append(risk_text(plan))
        parts.append(Text(f"action {plan.action} · plan {plan.digest[:12]}", style="dim"))
    grouped = _changes_by_target(plan)
    if not plan.changes:
        parts.append(Text("No changes: this step only reads.", style="dim"))
    for target, changes in grouped.items():
        parts.append(Text.assemble("\n▸ ", (target, "bold")))
        if not changes:
            parts.append(Text("    no change", style="dim"))
            continue
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for change in changes:
            table.add_row(Text(f"    {change.field}", style="bold"),
                          Text(_value(change.before), style=BEFORE),
                          Text("→"),
                          Text(_value(change.after), style="green"))
        parts.append(table)
    if plan.warnings:
        parts.append(Text("\nLingering access and warnings", style="bold yellow"))
        for warning in plan.warnings:
            parts.append(Text(f"  ⚠ {warning}", style="yellow"))
    return Group(*parts)
