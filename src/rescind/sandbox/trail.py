"""Full CloudTrail records for the simulated account, built from a scenario's history.

The records follow CloudTrail's record contents (eventVersion 1.09): one
``userIdentity`` shape per identity type, ``errorCode``/``errorMessage`` on failed
calls, ``resources`` on STS calls, and the ConsoleLogin sign-in shape. Event ids are
stable for a given scenario so tests and re-runs see the same ids.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rescind.sandbox.scenario import GenerateSpec, Identity, Scenario, TrailEventSpec, parse_time

EVENT_VERSION = "1.09"
GLOBAL_SOURCES = frozenset({"iam.amazonaws.com", "sts.amazonaws.com",
                            "signin.amazonaws.com", "organizations.amazonaws.com"})
_READ_PREFIXES = ("Get", "List", "Describe", "Lookup", "Head", "BatchGet", "Search", "Check")


def is_read_only(event_name: str) -> bool:
    return event_name.startswith(_READ_PREFIXES)


def cloudtrail_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fake_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest().upper()
    body = "".join(c for c in digest if c.isalnum())[: 21 - len(prefix) - 7]
    return f"{prefix}{body}EXAMPLE"


def _stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "rescind-sandbox:" + "/".join(parts)))


@dataclass
class TrailContext:
    """What records need from the account: its id, region and principals' unique ids."""

    account_id: str
    home_region: str
    now: datetime
    user_ids: dict[str, str] = field(default_factory=dict)
    role_ids: dict[str, str] = field(default_factory=dict)
    user_keys: dict[str, str] = field(default_factory=dict)  # user name -> first key id
    paths: dict[str, str] = field(default_factory=dict)  # user or role name -> IAM path

    def user_id(self, name: str) -> str:
        return self.user_ids.get(name) or _fake_id("AIDA", self.account_id, name)

    def role_id(self, name: str) -> str:
        return self.role_ids.get(name) or _fake_id("AROA", self.account_id, name)

    def user_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:user{self.paths.get(name, '/')}{name}"

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role{self.paths.get(name, '/')}{name}"


def user_identity(identity: Identity, ctx: TrailContext, when: datetime) -> dict[str, Any]:
    """The ``userIdentity`` block CloudTrail writes for this kind of caller."""
    acct = ctx.account_id
    attributes = {"creationDate": cloudtrail_time(when - timedelta(minutes=5)),
                  "mfaAuthenticated": "true" if identity.mfa else "false"}
    kind = identity.type
    if kind == "IAMUser":
        name = identity.user or "unknown-user"
        block: dict[str, Any] = {
            "type": "IAMUser", "principalId": ctx.user_id(name),
            "arn": ctx.user_arn(name), "accountId": acct,
            "accessKeyId": identity.access_key_id or ctx.user_keys.get(name, ""),
            "userName": name,
        }
        if not block["accessKeyId"]:
            del block["accessKeyId"]
        return block
    if kind == "AssumedRole":
        role = identity.role or "unknown-role"
        session = identity.session or "session"
        role_id = ctx.role_id(role)
        return {
            "type": "AssumedRole", "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}", "accountId": acct,
            "accessKeyId": identity.access_key_id or _fake_id("ASIA", acct, role, session),
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": role_id,
                                  "arn": ctx.role_arn(role),
                                  "accountId": acct, "userName": role},
                "webIdFederationData": {}, "attributes": attributes,
            },
        }
    if kind == "Root":
        block = {"type": "Root", "principalId": acct, "arn": f"arn:aws:iam::{acct}:root",
                 "accountId": acct}
        if identity.access_key_id:
            block["accessKeyId"] = identity.access_key_id
        block["sessionContext"] = {"attributes": attributes}
        return block
    if kind == "FederatedUser":
        issuer = identity.user or "federation-broker"
        name = identity.session or "federated"
        return {
            "type": "FederatedUser", "principalId": f"{acct}:{name}",
            "arn": f"arn:aws:sts::{acct}:federated-user/{name}", "accountId": acct,
            "accessKeyId": identity.access_key_id or _fake_id("ASIA", acct, "fed", name),
            "sessionContext": {
                "sessionIssuer": {"type": "IAMUser", "principalId": ctx.user_id(issuer),
                                  "arn": ctx.user_arn(issuer),
                                  "accountId": acct, "userName": issuer},
                "attributes": attributes,
            },
        }
    if kind == "AWSService":
        return {"type": "AWSService", "invokedBy": identity.service or "ec2.amazonaws.com"}
    if kind == "AWSAccount":
        other = identity.account or "111122223333"
        return {"type": "AWSAccount", "principalId": _fake_id("AIDA", other, "caller"),
                "accountId": other}
    if kind == "IdentityCenterUser":
        user = identity.user or "responder@example.com"
        return {
            "type": "IdentityCenterUser", "accountId": acct,
            "onBehalfOf": {"userId": _stable_uuid("idc", user),
                           "identityStoreArn": f"arn:aws:identitystore::{acct}:"
                                               "identitystore/d-9067642ac7"},
            "credentialId": _fake_id("", "idc-cred", user),
        }
    return {"type": "Unknown", "principalId": "", "accountId": acct,
            "userName": identity.user or ""}


def _sts_resources(spec_params: Mapping[str, Any] | None, acct: str,
                   response: Mapping[str, Any] | None) -> list[dict[str, str]] | None:
    """AssumeRole* records list the role and the issued session key as resources."""
    if not spec_params or "roleArn" not in spec_params:
        return None
    resources = [{"accountId": acct, "type": "AWS::IAM::Role", "ARN": str(spec_params["roleArn"])}]
    creds = (response or {}).get("credentials") or {}
    if isinstance(creds, Mapping) and creds.get("accessKeyId"):
        resources.insert(0, {"accountId": acct, "type": "AWS::IAM::AccessKey",
                             "ARN": f"arn:aws:iam::{acct}:accesskey/{creds['accessKeyId']}"})
    return resources


def build_record(spec: TrailEventSpec, scenario: Scenario, ctx: TrailContext,
                 index: int) -> dict[str, Any]:
    """One full CloudTrail record for a scenario history entry."""
    when = parse_time(spec.time, ctx.now)
    identity = spec.identity or scenario.attacker.identity
    source = spec.event_source
    region = spec.region or ("us-east-1" if source in GLOBAL_SOURCES else ctx.home_region)
    failed = spec.error_code is not None
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": user_identity(identity, ctx, when),
        "eventTime": cloudtrail_time(when),
        "eventSource": source,
        "eventName": spec.event_name,
        "awsRegion": region,
        "sourceIPAddress": spec.source_ip or _default_ip(identity, scenario),
        "userAgent": spec.user_agent or _default_agent(identity, scenario),
    }
    if spec.error_code is not None:
        record["errorCode"] = spec.error_code
        record["errorMessage"] = spec.error_message or _default_error(spec, record)
    event_id = spec.event_id or _stable_uuid(scenario.name, str(index), spec.event_name)
    if spec.event_name == "ConsoleLogin":
        record["userIdentity"].pop("accessKeyId", None)  # a password sign-in uses no key
        record.update({
            "requestParameters": None,
            "responseElements": {"ConsoleLogin": "Failure" if failed else "Success"},
            "additionalEventData": {
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No", "MFAUsed": "Yes" if identity.mfa else "No"},
            "eventID": event_id, "readOnly": False, "eventType": "AwsConsoleSignIn",
            "managementEvent": True, "recipientAccountId": scenario.account_id,
            "eventCategory": "Management",
        })
        return record
    response = None if failed else spec.response_elements
    record["requestParameters"] = spec.request_parameters
    record["responseElements"] = response
    resources = _sts_resources(spec.request_parameters, scenario.account_id, response)
    if resources:
        record["resources"] = resources
    read_only = spec.read_only if spec.read_only is not None else is_read_only(spec.event_name)
    record.update({
        "requestID": _stable_uuid(scenario.name, str(index), "request"),
        "eventID": event_id,
        "readOnly": read_only,
        "eventType": "AwsApiCall" if identity.type != "AWSService" else "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": scenario.account_id,
        "eventCategory": "Management",
    })
    if identity.type != "AWSService":
        record["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                                "clientProvidedHostHeader": _host(source, region)}
    return record


def _host(source: str, region: str) -> str:
    service = source.split(".", 1)[0]
    if source in GLOBAL_SOURCES:
        return f"{service}.amazonaws.com"
    return f"{service}.{region}.amazonaws.com"


def _default_ip(identity: Identity, scenario: Scenario) -> str:
    if identity.type == "AWSService":
        return identity.service or "ec2.amazonaws.com"
    return scenario.attacker.source_ip


def _default_agent(identity: Identity, scenario: Scenario) -> str:
    if identity.type == "AWSService":
        return identity.service or "ec2.amazonaws.com"
    return scenario.attacker.user_agent


def _default_error(spec: TrailEventSpec, record: Mapping[str, Any]) -> str:
    if spec.error_code == "AccessDenied" or spec.error_code == "AccessDeniedException":
        arn = record["userIdentity"].get("arn", "the caller")
        action = f"{spec.event_source.split('.', 1)[0]}:{spec.event_name}"
        return (f"User: {arn} is not authorized to perform: {action} because no "
                "identity-based policy allows the action")
    if spec.event_name == "ConsoleLogin":
        return "Failed authentication"
    return spec.error_code or ""


# Management events a leaked key typically produces, for bulk history (benchmarks).
_GENERATED_CALLS: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
    ("GetCallerIdentity", "sts.amazonaws.com", None),
    ("ListBuckets", "s3.amazonaws.com", {"Host": "s3.amazonaws.com"}),
    ("DescribeInstances", "ec2.amazonaws.com", {"instancesSet": {}, "filterSet": {}}),
    ("DescribeRegions", "ec2.amazonaws.com", {"regionSet": {}}),
    ("ListUsers", "iam.amazonaws.com", None),
    ("ListSecrets", "secretsmanager.amazonaws.com", None),
    ("GetSecretValue", "secretsmanager.amazonaws.com", {"secretId": "prod/db-password"}),
    ("DescribeDBInstances", "rds.amazonaws.com", None),
    ("ListFunctions20150331", "lambda.amazonaws.com", None),
    ("GetAccountAuthorizationDetails", "iam.amazonaws.com", None),
)


def generate_records(gen: GenerateSpec, scenario: Scenario, ctx: TrailContext,
                     ) -> list[dict[str, Any]]:
    """``count`` read-only events per region by the attacker's identity, spread over ``span``."""
    rng = random.Random(gen.seed)
    identity = gen.identity or scenario.attacker.identity
    start = parse_time(gen.span, ctx.now)
    seconds = max((ctx.now - start).total_seconds() - 60, 1.0)
    records: list[dict[str, Any]] = []
    for region in gen.regions or scenario.regions:
        for n in range(gen.count):
            name, source, params = _GENERATED_CALLS[rng.randrange(len(_GENERATED_CALLS))]
            when = start + timedelta(seconds=rng.random() * seconds)
            spec = TrailEventSpec(
                time=when.isoformat(), event_name=name, event_source=source, region=region,
                identity=identity, request_parameters=params,
                event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
            record = build_record(spec, scenario, ctx, n)
            record["awsRegion"] = region  # generated calls are regional, even for STS
            records.append(record)
    return records
