"""Entra and Azure as conformance cases: each runbook against its loopback fake."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.aws.conftest import ROOT

RUNBOOKS = ROOT / "runbooks"
SCENARIOS = RUNBOOKS / "scenarios"
ADELE = "b0000000-0000-4000-8000-000000000001"


class GraphCase:
    def __init__(self, fake: Any) -> None:
        self.fake = fake

    def table(self) -> dict[str, Any]:
        return dict(self.fake.provider_settings())

    def mutating(self) -> list[str]:
        return list(self.fake.mutating())

    def operations(self) -> list[str]:
        return list(self.fake.operations())

    def changed(self) -> bool:
        return not self.fake.users[ADELE]["accountEnabled"]

    def environ(self) -> dict[str, str]:
        return {}  # the fakes' token is a setting (token), not an environment variable


class ArmCase(GraphCase):
    def changed(self) -> bool:
        return not any(self.fake.federated.values())


@contextmanager
def graph_fake() -> Iterator[GraphCase]:
    from rescind.sandbox.graph import running_graph_fake

    with running_graph_fake(SCENARIOS / "entra-phished-user.yaml") as fake:
        yield GraphCase(fake)


@contextmanager
def arm_fake() -> Iterator[ArmCase]:
    from rescind.sandbox.arm import running_arm_fake

    with running_arm_fake(SCENARIOS / "azure-managed-identity.yaml") as fake:
        yield ArmCase(fake)


def cases() -> list[Any]:
    from tests.conformance.cases import Case

    return [Case("entra", RUNBOOKS / "entra-user-compromise.yaml",
                 {"user": "adele.vance@example.com"}, ROOT / "docs" / "entra.md", graph_fake),
            Case("azure", RUNBOOKS / "azure-managed-identity-compromise.yaml",
                 {"identity": "rg-prod/deploy-mi",
                  "principal_id": "c0000000-0000-4000-8000-000000000001"},
                 ROOT / "docs" / "azure.md", arm_fake)]
