"""The runbook's JSON Schema (draft 2020-12), for editors to complete and check runbooks.

Built from the pydantic model plus the action registry: ``action:`` is an enum of
the registered names, and for each action an if/then gives ``with:`` that action's
parameter schema. Any parameter value may also be a ``${{ }}`` reference, which
is only known at run time, so every value position in a parameter schema also
accepts a string holding one.
"""

from __future__ import annotations

import copy
from typing import Any

from rescind.actions import registry
from rescind.runbook.inputs import INPUT_NAME
from rescind.runbook.model import Runbook

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Any string containing a reference: checked properly by `rescind validate`.
REFERENCE = {"type": "string", "pattern": r"\$\{\{.*\}\}",
             "description": "A ${{ inputs.NAME }} or ${{ steps.ID.outputs.NAME }} reference"}

_VALUE_KEYS = ("properties", "patternProperties")  # mappings of name -> schema


def _accept_refs(schema: Any) -> Any:
    """A copy of ``schema`` where every property, item and map value may be a reference."""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items()}
    for key in _VALUE_KEYS:
        if isinstance(out.get(key), dict):
            out[key] = {name: _or_ref(sub) for name, sub in out[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _or_ref(out[key])
    if isinstance(out.get("prefixItems"), list):
        out["prefixItems"] = [_or_ref(s) for s in out["prefixItems"]]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(out.get(key), list):
            out[key] = [_accept_refs(s) for s in out[key]]
    return out


def _or_ref(schema: Any) -> Any:
    inner = _accept_refs(schema)
    if not isinstance(inner, dict):
        return inner
    # Keep the annotations at the top so editors still show them.
    notes = {k: inner.pop(k) for k in ("title", "description", "default") if k in inner}
    return {**notes, "anyOf": [inner, REFERENCE]}


def _params_schema(name: str, params: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The action's params schema with its $defs moved (renamed) into the root's."""
    prefix = f"{name}."
    local = params.pop("$defs", {})
    for def_name, def_schema in local.items():
        defs[prefix + def_name] = _accept_refs(def_schema)
    renamed: dict[str, Any] = _accept_refs(_rename_refs(params, prefix))
    return renamed


def _rename_refs(schema: Any, prefix: str) -> Any:
    if isinstance(schema, dict):
        return {k: (v.replace("#/$defs/", f"#/$defs/{prefix}", 1)
                    if k == "$ref" and isinstance(v, str) else _rename_refs(v, prefix))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rename_refs(s, prefix) for s in schema]
    return schema


def runbook_json_schema() -> dict[str, Any]:
    """The JSON Schema of a runbook, including the registered actions' parameters."""
    schema = copy.deepcopy(Runbook.model_json_schema(by_alias=True, mode="validation"))
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    schema["properties"]["inputs"]["propertyNames"] = {"pattern": INPUT_NAME}

    step = defs["ActionStep"]
    actions = list(registry.all_actions())
    if actions:
        step["properties"]["action"]["enum"] = [a.name for a in actions]
    rules = []
    for action in actions:
        params = action.params_model.model_json_schema(by_alias=True, mode="validation")
        with_schema = _params_schema(action.name, copy.deepcopy(params), defs)
        with_schema.setdefault("description", action.description)
        then: dict[str, Any] = {"properties": {"with": with_schema}}
        if params.get("required"):
            then["required"] = ["with"]
        rules.append({"if": {"properties": {"action": {"const": action.name}},
                             "required": ["action"]},
                      "then": then})
    if rules:
        step["allOf"] = rules
    return {"$schema": DIALECT, **schema, "title": "rescind runbook"}
