"""Vault ACL paths and capabilities: how one request maps to a capability, and whether
a policy grants it.

A permission is written ``"<capability> <path>"`` (``"update auth/token/revoke-accessor"``);
paths use Vault's policy globs: ``+`` is exactly one path segment, a trailing ``*``
matches any suffix. Actions declare their permissions in this form, docs/vault.md
prints them as HCL policies, the simulated Vault enforces policies with the same
matcher, and the tests check the calls an action made against what it declares.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

CAPABILITIES = ("create", "read", "update", "patch", "delete", "list", "sudo", "deny")
# Vault's root-protected paths: the caller also needs ``sudo`` on them.
SUDO_PATHS = ("auth/token/accessors", "auth/token/revoke-orphan", "sys/audit-hash/*",
              "sys/leases/lookup/*", "sys/leases/revoke-prefix/*", "sys/leases/revoke-force/*")

_HCL_RULE = re.compile(r'path\s+"(?P<path>[^"]*)"\s*\{(?P<body>[^}]*)\}', re.S)
_HCL_CAPS = re.compile(r"capabilities\s*=\s*\[(?P<caps>[^\]]*)\]")


def capability(method: str, query: str = "") -> str:
    """The capability a request needs, from its HTTP method (``LIST`` or ``?list=true``)."""
    method = method.upper()
    if method == "LIST" or (method == "GET" and "list=true" in query.lower()):
        return "list"
    return {"GET": "read", "HEAD": "read", "DELETE": "delete", "PATCH": "patch"}.get(
        method, "update")


def path_matches(pattern: str, path: str) -> bool:
    """Vault's policy glob: ``+`` one segment, a trailing ``*`` any suffix."""
    pattern, path = pattern.lstrip("/"), path.strip("/")
    prefix = pattern.endswith("*")
    pattern = pattern[:-1] if prefix else pattern.rstrip("/")
    want, have = pattern.split("/"), path.split("/")
    if prefix:
        if len(have) < len(want):
            return False
        head, last = want[:-1], want[-1]
        if not all(w == "+" or w == h for w, h in zip(head, have, strict=False)):
            return False
        return have[len(head)].startswith(last) if last != "+" else True
    if len(want) != len(have):
        return False
    return all(w == "+" or w == h for w, h in zip(want, have, strict=True))


def needs_sudo(path: str) -> bool:
    return any(path_matches(p, path) for p in SUDO_PATHS)


def parse_permission(entry: str) -> tuple[str, str]:
    cap, _, path = entry.partition(" ")
    if cap not in CAPABILITIES or not path:
        raise ValueError(f"a Vault permission is '<capability> <path>', not {entry!r}")
    return cap, path


def grants(permissions: Iterable[str], cap: str, path: str) -> bool:
    """Whether ``permissions`` allow ``cap`` on ``path`` (and sudo where Vault wants it)."""
    rules = [parse_permission(p) for p in permissions]
    matching = {c for c, p in rules if path_matches(p, path)}
    if "deny" in matching:
        return False
    # Vault lets "create" or "update" satisfy a write; a policy usually names both.
    ok = cap in matching or (cap == "update" and "create" in matching)
    return ok and (not needs_sudo(path) or "sudo" in matching)


def policy_rules(text: str) -> dict[str, list[str]]:
    """A Vault policy (HCL or its JSON form) as path → capabilities."""
    stripped = text.strip()
    if stripped.startswith("{"):
        doc = json.loads(stripped)
        paths = doc.get("path", {}) if isinstance(doc, Mapping) else {}
        return {str(p): [str(c) for c in (rule or {}).get("capabilities", [])]
                for p, rule in paths.items()}
    rules: dict[str, list[str]] = {}
    for match in _HCL_RULE.finditer(stripped):
        caps = _HCL_CAPS.search(match.group("body"))
        names = re.findall(r'"([^"]+)"', caps.group("caps")) if caps else []
        rules.setdefault(match.group("path"), []).extend(names)
    return rules


def as_permissions(rules: Mapping[str, Iterable[str]]) -> list[str]:
    return [f"{cap} {path}" for path, caps in rules.items() for cap in caps]


def to_hcl(permissions: Iterable[str]) -> str:
    """``permissions`` as an HCL policy, one ``path`` block per path, in first-seen order."""
    by_path: dict[str, list[str]] = {}
    for entry in permissions:
        cap, path = parse_permission(entry)
        caps = by_path.setdefault(path, [])
        if cap not in caps:
            caps.append(cap)
    blocks = [f'path "{path}" {{\n  capabilities = [{", ".join(json.dumps(c) for c in caps)}]\n}}'
              for path, caps in by_path.items()]
    return "\n".join(blocks) + "\n"
