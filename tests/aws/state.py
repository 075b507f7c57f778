"""Read the whole simulated account back, straight from moto, to compare before and after."""

from __future__ import annotations

from typing import Any

from rescind.sandbox.aws import AwsSandbox

_clients: dict[tuple[str, str], Any] = {}


def _client(sandbox: AwsSandbox, service: str) -> Any:
    """One client per sandbox endpoint: making a client loads its service model (slow)."""
    key = (sandbox.endpoint_url, service)
    if key not in _clients:
        _clients[key] = sandbox.client(service)
    return _clients[key]


def snapshot(sandbox: AwsSandbox) -> dict[str, Any]:
    """Users (keys, policies, console, groups), roles (trust, policies) and secrets."""
    iam = _client(sandbox, "iam")
    users: dict[str, Any] = {}
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            name = user["UserName"]
            try:
                iam.get_login_profile(UserName=name)
                console = True
            except iam.exceptions.NoSuchEntityException:
                console = False
            users[name] = {
                "keys": {k["AccessKeyId"]: k["Status"]
                         for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]},
                "inline": {p: iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"]
                           for p in iam.list_user_policies(UserName=name)["PolicyNames"]},
                "attached": sorted(p["PolicyArn"] for p in
                                   iam.list_attached_user_policies(UserName=name)
                                   ["AttachedPolicies"]),
                "groups": sorted(g["GroupName"] for g in
                                 iam.list_groups_for_user(UserName=name)["Groups"]),
                "console": console,
            }
    roles: dict[str, Any] = {}
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        roles[name] = {
            "trust": iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"],
            "inline": sorted(iam.list_role_policies(RoleName=name)["PolicyNames"]),
            "attached": sorted(p["PolicyArn"] for p in
                               iam.list_attached_role_policies(RoleName=name)
                               ["AttachedPolicies"]),
        }
    sm = _client(sandbox, "secretsmanager")
    secrets = {s["Name"]: sm.describe_secret(SecretId=s["ARN"]).get("VersionIdsToStages")
               for s in sm.list_secrets()["SecretList"]}
    return {"users": users, "roles": roles, "secrets": secrets}
