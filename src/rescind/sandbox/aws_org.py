"""A simulated AWS organisation: member accounts, each entered through one role.

moto keeps every account's IAM apart and lets the responder assume any role ARN, so
an organisation of 100 accounts is 100 CreateAccount calls and, per account, the
resources seeded through a session assumed into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rescind.sandbox.aws import AwsSandbox
from rescind.sandbox.aws_seed import sandbox_client

ORG_ROLE = "OrganizationAccountAccessRole"  # the role Organizations creates in members


@dataclass(frozen=True)
class Organisation:
    management: str
    members: list[str]


def member_client(sandbox: AwsSandbox, account: str, service: str = "iam") -> Any:
    """A client acting in ``account`` through the organisation role."""
    creds = sandbox.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ORG_ROLE}",
        RoleSessionName="sandbox-seed")["Credentials"]
    return sandbox_client(service, region_name=sandbox.regions[0],
                          endpoint_url=sandbox.endpoint_url,
                          aws_access_key_id=creds["AccessKeyId"],
                          aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"])


def seed_organisation(sandbox: AwsSandbox, members: int, *, role: str,
                      role_in: int | None = None) -> Organisation:
    """An organisation managed by the sandbox's account, ``members`` member accounts,
    and a cross-account ``role`` in the first ``role_in`` of them (default: all)."""
    org = sandbox.client("organizations")
    org.create_organization(FeatureSet="ALL")
    ids: list[str] = []
    for n in range(members):
        status = org.create_account(Email=f"member-{n}@example.com",
                                    AccountName=f"member-{n}")["CreateAccountStatus"]
        ids.append(str(status["AccountId"]))
    trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
             '{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}')
    for account in ids[:members if role_in is None else role_in]:
        member_client(sandbox, account).create_role(RoleName=role,
                                                    AssumeRolePolicyDocument=trust)
    return Organisation(management=sandbox.account_id, members=ids)
