"""``rescind validate`` on an exercise scenario: every cloud section it stages, and its
injects (an unknown kind of attacker move, a time that is not ``+5m``, an
``after_step`` that names no step of the runbook, an id used twice), as
``FILE:LINE: field: message`` lines, without starting any simulated cloud.

Each cloud's own model reads its part, as its sandbox will: AWS the top level (unless
the file is a Google Cloud one), Google Cloud ``gcp:`` (or the top level of a file
with ``project:``), Entra and Azure ``entra:`` and ``azure:``, Vault ``vault:``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rescind.errors import UsageError
from rescind.sandbox.scenario_file import line_of, read_mapping

GCP_TOP = ("project", "service_accounts", "audit_log", "workload_identity_pools")


SCENARIO_KEYS = frozenset({"name", "injects", "users", "roles", "cloudtrail", "account_id",
                           "entra", "azure", "gcp", "vault", *GCP_TOP})
# Keys only an AWS account's part has (``responder``, ``injects``... are every cloud's).
AWS_TOP = ("account_id", "regions", "users", "groups", "policies", "roles", "secrets",
           "attacker", "cloudtrail")


def simulated_clouds(data: dict[str, Any]) -> list[str]:
    """The providers a scenario's mapping stages something for, by the keys read above."""
    gcp_top = any(k in data for k in GCP_TOP)
    found = {"aws": not gcp_top and any(k in data for k in AWS_TOP),
             "gcp": gcp_top or isinstance(data.get("gcp"), dict)}
    found |= {name: isinstance(data.get(name), dict) for name in ("entra", "azure", "vault")}
    return [name for name, staged in found.items() if staged]


def scenarios_of(provider: str, folder: Path) -> list[Path]:
    """The scenario files in ``folder`` that simulate ``provider``, those of that cloud
    alone first."""
    found: list[tuple[int, Path]] = []
    for path in sorted(folder.glob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        clouds = simulated_clouds(data) if is_scenario(data) else []
        if provider in clouds:
            found.append((len(clouds), path))
    return [path for _, path in sorted(found)]


def is_scenario(data: Any) -> bool:
    """A scenario file, not a runbook: none of a runbook's ``id:``, ``title:``,
    ``phases:``, and some of a scenario's keys."""
    return isinstance(data, dict) and not {"id", "title", "phases"} & data.keys() \
        and bool(SCENARIO_KEYS & data.keys())


def check_scenario(path: Path, steps: set[str] | None = None,
                   runbook: str = "") -> list[str]:
    """Every problem found in the scenario at ``path``; ``steps`` (the runbook's step
    ids) also checks each inject's ``after_step``."""
    try:
        data = read_mapping(path, first_keys="name:, injects:")
    except UsageError as exc:
        return [exc.message]
    problems: list[str] = []
    # (where its injects sit, the injects) for each cloud part that loaded.
    found: list[tuple[tuple[str, ...], list[Any]]] = []
    gcp_top = any(k in data for k in GCP_TOP)
    if not gcp_top:
        from rescind.sandbox.scenario import Scenario

        _load(lambda: found.append((("injects",), Scenario.load(path).injects)), problems)
    if gcp_top or isinstance(data.get("gcp"), dict):
        from rescind.sandbox.gcp_scenario import GcpScenario

        where: tuple[str, ...] = ("injects",) if gcp_top else ("gcp", "injects")
        _load(lambda: found.append((where, GcpScenario.load(path).injects)), problems)
    if isinstance(data.get("entra"), dict) or isinstance(data.get("azure"), dict):
        from rescind.sandbox.graph_scenario import load_scenario

        def both() -> None:
            scenario = load_scenario(path)
            found.append((("entra", "injects"), scenario.entra.injects))
            found.append((("azure", "injects"), scenario.azure.injects))

        _load(both, problems)
    if isinstance(data.get("vault"), dict):
        from rescind.sandbox.vault_scenario import VaultScenario

        _load(lambda: found.append((("vault", "injects"), VaultScenario.load(path)[0].injects)),
              problems)
    seen: set[str] = set()
    for where, injects in found:
        for n, inject in enumerate(injects):
            at = (*where, n)
            if inject.id in seen:
                problems.append(f"{path}:{line_of(path, (*at, 'id'))}: "
                                f"{'.'.join(map(str, (*at, 'id')))}: inject id {inject.id!r} "
                                "is used twice (ids are shared across the clouds' sections)")
            seen.add(inject.id)
            if steps is not None and inject.after_step is not None \
                    and inject.after_step not in steps:
                field = (*at, "after_step")
                problems.append(f"{path}:{line_of(path, field)}: {'.'.join(map(str, field))}: "
                                f"{inject.after_step!r} is not a step of runbook {runbook} "
                                f"(its steps: {', '.join(sorted(steps))})")
    return problems


def _load(read: Any, problems: list[str]) -> None:
    try:
        read()
    except UsageError as exc:
        problems.append(exc.message)
