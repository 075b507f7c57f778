"""The one redaction: one marker, one list of secret names, in every output.

Each name below was caught by only some of the four lists rescind used to keep
(the engine's settings, the dry-run guard, the timeline, the simulated trail);
each must now be hidden wherever it travels.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rescind.providers.aws_guard import DryRunGuard
from rescind.redaction import REDACTED, hides, redact, redacted_json, register_secret_names
from rescind.sandbox.aws import start_aws_sandbox
from rescind.timeline.cloudtrail import from_record
from rescind.timeline.export import FORMATS, export

CANARY = "CANARYoneRedactionDoNotShow"
# name → which old list missed it
SECRET_NAMES = [
    "apiToken",            # timeline (exact names only)
    "ServicePassword",     # simulated trail (exact names only)
    "ServiceSpecificCredential",  # timeline, simulated trail
    "Passphrase",          # dry-run guard
    "client_secret",
    "aws_external_id",
    "AuthenticationCode1",  # timeline, simulated trail
    "SAMLAssertion",       # guard, simulated trail
    "Base32StringSeed",    # every list: a virtual MFA device's seed
]
PUBLIC_NAMES = ["SecretId", "secretArn", "nextToken", "ClientRequestToken", "credentialId",
                "credential", "credential_uid",
                "accessKeyId", "userName", "passwordResetRequired"]


def _record(params: dict[str, Any]) -> dict[str, Any]:
    return {"eventVersion": "1.09", "eventID": "e1", "eventTime": "2026-11-20T10:00:00Z",
            "eventName": "CreateThing", "eventSource": "iam.amazonaws.com",
            "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.50",
            "userIdentity": {"type": "IAMUser", "accountId": "123456789012",
                             "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "deploy-bot"},
            "requestParameters": params, "responseElements": None}


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_a_secret_name_is_hidden_in_every_timeline_export(tmp_path: Path, name: str) -> None:
    event = from_record(_record({"userName": "backup-admin", name: CANARY,
                                 "nested": [{name: CANARY}]}))
    for fmt in FORMATS:
        out = tmp_path / f"x.{fmt}"
        export([event], out, fmt)
        text = out.read_text()
        assert CANARY not in text, (fmt, text)
        assert "backup-admin" in text


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_a_secret_name_is_hidden_in_a_dry_run_report(name: str) -> None:
    reported: list[Any] = []
    guard = DryRunGuard(reported.append)
    model = SimpleNamespace(name="CreateThing", service_model=SimpleNamespace(
        metadata={"signingName": "iam"}, service_name="iam"))
    context = {"rescind.api_params": {"UserName": "backup-admin", name: CANARY}}
    guard._before_call(model, context)  # what botocore calls for a mutating request
    (call,) = reported
    assert call.params == {"UserName": "backup-admin", name: REDACTED}
    assert CANARY not in call.describe()


def test_public_names_stay_readable() -> None:
    value = {name: "x" for name in PUBLIC_NAMES} | {"passwordResetRequired": True}
    assert redact(value) == value


def test_one_marker_everywhere() -> None:
    """No module keeps a marker of its own."""
    src = Path(__file__).resolve().parents[1] / "src" / "rescind"
    for path in src.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"""["'](<redacted>|\[redacted\])["']""", text), path
        if path.name != "redaction.py":
            assert not re.search(r"^REDACTED\s*[:=]", text, re.M), path


def test_credentials_keep_the_key_id_a_responder_traces() -> None:
    response = {"credentials": {"accessKeyId": "ASIAIOSFODNN7EXAMPLE",
                                "sessionToken": CANARY, "secretAccessKey": CANARY}}
    assert redact(response) == {"credentials": {"accessKeyId": "ASIAIOSFODNN7EXAMPLE",
                                                "sessionToken": REDACTED,
                                                "secretAccessKey": REDACTED}}
    assert hides("credentials", CANARY)  # not a mapping: hidden whole


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_text_already_redacted_is_not_scanned_again_and_nothing_else_is_skipped(
        name: str) -> None:
    raw = _record({name: CANARY, "policy": json.dumps({name: CANARY}),
                   "note": f"aws_secret_access_key={CANARY}", "when": "\u00e9t\u00e9"})
    held = redacted_json(raw, separators=(",", ":"), sort_keys=True)  # OCSF's raw_data
    assert CANARY not in held
    assert redact(held) == held  # idempotent: what lets ``redacted=`` skip it
    dumps: dict[str, Any] = {"separators": (",", ":"), "ensure_ascii": False}
    for line in ({"raw_data": held, "message": "fine", "ip": "203.0.113.50"},
                 {"raw_data": held, "message": f"aws_secret_access_key={CANARY}"},
                 {"raw_data": held, "user": {name: CANARY}}):
        text = redacted_json(line, redacted="raw_data", **dumps)
        assert text == json.dumps(redact(line), **dumps)
        assert CANARY not in text and json.loads(text)["raw_data"] == held


def test_secrets_inside_json_text_and_inline() -> None:
    policy = json.dumps({"Statement": [{"Condition": {"StringEquals": {
        "sts:ExternalId": CANARY}}}]})
    out = redact({"PolicyDocument": policy, "note": f"aws_secret_access_key={CANARY}",
                  "SecretBinary": b"\x00", "blob": b"\x00\x01"})
    assert CANARY not in json.dumps(out)
    assert json.loads(out["PolicyDocument"])["Statement"][0]["Condition"] == {
        "StringEquals": {"sts:ExternalId": REDACTED}}
    assert out["SecretBinary"] == REDACTED and out["blob"] == "<2 bytes>"
    untouched = json.dumps({"Statement": []}, indent=2)
    assert redact(untouched) == untouched  # no secret: the text is left as it was


def test_json_text_after_white_space_is_redacted_too() -> None:
    for lead in (" ", "\n", "\t\n  "):
        out = redact({"doc": lead + json.dumps({"password": CANARY})})
        assert CANARY not in json.dumps(out), lead


def test_the_fast_checks_fold_case_as_the_redactor_does() -> None:
    from rescind.redaction import is_clean_document, is_clean_json

    record = {"note": f"aws_\u017fecret_access_key={CANARY}"}  # a long s: folds to s
    text = json.dumps(record, ensure_ascii=False)
    assert CANARY not in json.dumps(redact(record))
    assert not is_clean_json(text) and not is_clean_document(text, record)


def test_a_provider_extends_the_list() -> None:
    # A made-up word, so that registering it here changes nothing for other tests.
    record = {"vendorZorkCode": CANARY, "zorkCodePolicyId": "p-1"}
    assert redact(record) == record  # decided (and cached) before the provider registers
    register_secret_names(["zork_code"], not_secret=["ZorkCodePolicyId"])
    assert redact(record) == {"vendorZorkCode": REDACTED, "zorkCodePolicyId": "p-1"}


def test_the_simulated_trail_never_records_a_secret(tmp_path: Path) -> None:
    """The attacker's history is applied to moto; its responses become responseElements."""
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: mfa-history\n"
        "users: [{name: backup-admin}]\n"
        "cloudtrail:\n  events:\n"
        "    - {time: -2h, eventName: CreateAccessKey, eventSource: iam.amazonaws.com,\n"
        "       requestParameters: {userName: backup-admin}}\n"
        "    - {time: -1h, eventName: CreateVirtualMFADevice, eventSource: iam.amazonaws.com,\n"
        "       requestParameters: {virtualMFADeviceName: backup-admin}}\n")
    with start_aws_sandbox(path) as sandbox:
        seed = sandbox.client("iam").list_virtual_mfa_devices()["VirtualMFADevices"][0]
        assert seed["SerialNumber"].endswith("mfa/backup-admin")
        records = sandbox.client("cloudtrail", "us-east-1").lookup_events()["Events"]
        trail = {e["EventName"]: json.loads(e["CloudTrailEvent"]) for e in records}
    key = trail["CreateAccessKey"]["responseElements"]["accessKey"]
    assert key["accessKeyId"].startswith("AKIA") and "secretAccessKey" not in key
    device = trail["CreateVirtualMFADevice"]["responseElements"]["virtualMFADevice"]
    assert device["serialNumber"].endswith("mfa/backup-admin")
    assert set(device) == {"serialNumber"}  # no seed, no QR code of it


@pytest.mark.parametrize("name", ["secretAccessKey", "se\\u0063ret", "se\\ncret", "Ext-ernal_Id"])
def test_json_text_is_parsed_whenever_a_name_in_it_could_be_secret(name: str) -> None:
    text = '{"a": {"' + name + '": "' + CANARY + '"}}'
    assert CANARY not in json.dumps(redact({"doc": text}))
