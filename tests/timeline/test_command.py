"""`rescind timeline pull` against the simulated account, and `rescind timeline convert`."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from rescind.cli import main
from rescind.timeline.incident import load_events

SCENARIOS = Path(__file__).resolve().parents[2] / "runbooks" / "scenarios"
SCENARIO = SCENARIOS / "leaked-access-key.yaml"


def _incident(tmp_path: Path) -> Path:
    incident = tmp_path / "IR-1"
    incident.mkdir()
    (incident / "journal.jsonl").write_text("")
    return incident


def test_pull_from_an_exercise(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    from rescind.commands import timeline

    out = tmp_path / "timeline.ocsf.jsonl"
    incident = _incident(tmp_path)
    monkeypatch.setattr(timeline, "_EVERY", 5)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code = main(["timeline", "pull", "--aws-access-key-id", "AKIAIOSFODNN7EXAMPLE",
                 "--exercise", str(SCENARIO), "--since", "-2d", "--out", str(out),
                 "--incident", str(incident)])
    assert code == 0
    lines = [json.loads(t) for t in out.read_text().splitlines()]
    names = [line["api"]["operation"] for line in lines]
    assert names[0] == "GetSecretValue" and "CreateUser" in names and "DeleteTrail" in names
    assert "ConsoleLogin" not in names  # the backdoor's sign-in used no access key
    err = capsys.readouterr().err
    assert "2 regions" in err and "events" in err
    # On a terminal, writing the events and merging them into the incident are shown.
    assert f"\r  5 events written, of {len(names)}\x1b[K" in err
    assert f"\r  5 of {len(names)} new events merged\x1b[K" in err
    assert "\r  5 events written to timeline.jsonl, of " in err
    assert "\x1b[K\r\x1b[Krescind: " in err and "new events in" in err
    timeline = load_events(incident / "timeline.jsonl")
    assert [e.action for e in timeline] == names
    evidence = sorted(p.name for p in (incident / "evidence").iterdir())
    assert evidence == ["cloudtrail-lookup-eu-west-1-AccessKeyId-AKIAIOSFODNN7EXAMPLE.jsonl",
                        "cloudtrail-lookup-us-east-1-AccessKeyId-AKIAIOSFODNN7EXAMPLE.jsonl"]


def test_pull_via_cloudtrail_lake_from_an_exercise(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "timeline.ocsf.jsonl"
    code = main(["timeline", "pull", "--aws-access-key-id", "AKIAIOSFODNN7EXAMPLE",
                 "--via", "cloudtrail-lake", "--exercise", str(SCENARIO), "--since", "-2d",
                 "--out", str(out)])
    assert code == 0
    names = [json.loads(t)["api"]["operation"] for t in out.read_text().splitlines()]
    assert names[0] == "GetSecretValue" and "CreateUser" in names and "DeleteTrail" in names
    assert "ConsoleLogin" not in names
    err = capsys.readouterr().err
    assert "CloudTrail Lake bills per GB scanned" in err  # before the query
    assert "CloudTrail Lake scanned " in err  # after it, from DescribeQuery


def test_pull_by_user_with_narrow_window(tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    assert main(["timeline", "pull", "--aws-user", "backup-admin", "--exercise", str(SCENARIO),
                 "--since", "-100m", "--regions", "us-east-1", "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0].startswith("time (UTC),source,actor")  # .csv picks the CSV format
    assert len(rows) == 2 and ",ConsoleLogin," in rows[1]


def test_convert_into_an_incident(tmp_path: Path, records: list[dict[str, Any]],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    incident = _incident(tmp_path)
    s3 = tmp_path / "delivery.json.gz"
    s3.write_bytes(gzip.compress(json.dumps({"Records": [*records, {"bad": 1}]}).encode()))
    again = tmp_path / "again.jsonl"
    again.write_text(json.dumps(records[0]) + "\nnot json\n")
    out = tmp_path / "t.timesketch.jsonl"
    assert main(["timeline", "convert", str(s3), str(again), "--format", "timesketch",
                 "--out", str(out), "--incident", str(incident)]) == 0
    err = capsys.readouterr().err
    assert "2 unreadable" in err and "Records[12]" in err and "line 2" in err
    assert "identical copies dropped: 1" in err
    assert len(out.read_text().splitlines()) == len(records)
    assert len(load_events(incident / "timeline.jsonl")) == len(records)
    evidence = {p.name: p for p in (incident / "evidence").iterdir()}
    assert set(evidence) == {"cloudtrail-delivery.json.gz.jsonl", "cloudtrail-again.jsonl.jsonl"}
    assert "CANARY" not in "".join(p.read_text() for p in evidence.values())
    # Evidence is the owner's only, like the rest of the record.
    for path in [out, incident / "timeline.jsonl", *evidence.values()]:
        assert path.stat().st_mode & 0o777 == 0o600, path
    # Converting the same file again adds nothing new.
    assert main(["timeline", "convert", str(s3), "--incident", str(incident)]) == 0
    assert "0 new events" in capsys.readouterr().err


def test_convert_counts_have_thousands_separators(
        tmp_path: Path, records: list[dict[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    """Every count in the summary reads as the others do: 1,000, not 1000."""
    incident = _incident(tmp_path)
    export = tmp_path / "export.jsonl"
    lines = [json.dumps({**records[0], "eventID": f"{n:08d}-0000-4000-8000-000000000000"})
             for n in range(1000)]
    export.write_text("\n".join([*lines, *lines, *["not json"] * 1020]) + "\n")
    assert main(["timeline", "convert", str(export), "--incident", str(incident)]) == 0
    err = capsys.readouterr().err
    assert ("1,000 events, 1,020 unreadable, identical copies dropped: 1,000" in err), err
    assert "  ... and 1,000 more\n" in err
    assert "rescind: 1,000 new events in " in err


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["timeline", "convert", str(tmp_path / "missing.json"), "--out",
                 str(tmp_path / "x")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["timeline", "convert", str(tmp_path)]) == 2
    assert "nowhere to write" in capsys.readouterr().err
    assert main(["timeline", "convert", __file__, "--incident", str(tmp_path)]) == 2
    assert "not an incident folder" in capsys.readouterr().err
    assert main(["timeline", "pull", "--aws-user", "x", "--exercise", str(SCENARIO),
                 "--since", "tomorrowish", "--out", str(tmp_path / "o")]) == 2
    assert "not a time" in capsys.readouterr().err


@pytest.mark.parametrize(("given", "said", "fix"), [
    (["--aws-access-key-id", "notakey"],
     "--aws-access-key-id 'notakey' is not an access key id (AKIA or ASIA and 16 capitals "
     "or digits)", "e.g. AKIAIOSFODNN7EXAMPLE"),
    (["--aws-access-key-id", "akiaiosfodnn7example"], "--aws-access-key-id "
     "'akiaiosfodnn7example' is not an access key id", "--aws-access-key-id AKIAIOSFODNN7EXAMPLE"),
    # A secret access key pasted for its id is not repeated back.
    (["--aws-access-key-id", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
     "--aws-access-key-id (a value of 40 characters) is not an access key id", "not its secret"),
    (["--gcp-key-id", "1f3a"], "--gcp-key-id '1f3a' is not a service-account key id (40 hex "
     "digits, lower case)", "gcloud iam service-accounts keys list"),
    (["--gcp-principal", "connector"], "--gcp-principal 'connector' is not an email address",
     "--gcp-principal EMAIL"),
])
def test_a_malformed_id_is_one_line_naming_its_option(
        given: list[str], said: str, fix: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["timeline", "pull", *given, "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    first, second = err.splitlines()
    assert first.startswith(f"rescind: {said}") and second.startswith("  fix: ")
    assert fix in second
    assert "wJalrXUtnFEMI" not in err


@pytest.mark.parametrize(("given", "scenario", "said", "fix"), [
    (["--aws-access-key-id", "AKIAIOSFODNN7EXAMPLE"], "gcp-leaked-sa-key.yaml",
     "the scenario gcp-leaked-sa-key.yaml simulates Google Cloud, not AWS",
     "leaked-access-key.yaml), or name its credential with --gcp-principal or --gcp-key-id"),
    (["--gcp-principal", "a@example.com"], "leaked-access-key.yaml",
     "the scenario leaked-access-key.yaml simulates AWS, not Google Cloud",
     "gcp-leaked-sa-key.yaml), or name its credential with --aws-access-key-id"),
    (["--vault-role", "payments"], "entra-phished-user.yaml",
     "the scenario entra-phished-user.yaml simulates Entra ID, not Vault",
     "vault-token-leak.yaml), or name its credential with --entra-user or --entra-sp"),
    # A scenario of no AWS account pulled nothing, silently.
    (["--aws-user", "x"], "vault-token-leak.yaml",
     "the scenario vault-token-leak.yaml simulates Vault, not AWS", "--vault-accessor"),
])
def test_a_scenario_of_another_cloud_is_named_as_such(
        given: list[str], scenario: str, said: str, fix: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["timeline", "pull", *given, "--exercise", str(SCENARIOS / scenario),
                 "--out", str(tmp_path / "x.jsonl")]) == 2
    first, second = capsys.readouterr().err.splitlines()
    assert first == f"rescind: {said}"
    assert second.startswith("  fix: pull from a scenario of ") and fix in second


@pytest.mark.parametrize(("given", "scenario", "place", "done"), [
    (["--gcp-principal", "tailpipe-connector@example-project.iam.gserviceaccount.com"],
     "gcp-leaked-sa-key.yaml", "from example-project (", "in 1 pages from 1 project;"),
    (["--vault-accessor", "leakedAccessorEXAMPLE001"], "vault-token-leak.yaml",
     "from the simulated Vault's audit log (", "in 1 pages from 1 audit log;"),
    (["--entra-user", "adele.vance@example.com"], "entra-phished-user.yaml",
     "from tenant ", "pages from 1 tenant;"),
    (["--azure-caller", "mallory@example.com"], "azure-managed-identity.yaml",
     "from subscription ", "in 1 pages from 1 subscription;"),
])
def test_a_pull_names_the_places_of_its_source(
        given: list[str], scenario: str, place: str, done: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["timeline", "pull", *given, "--exercise", str(SCENARIOS / scenario),
                 "--since", "-30d", "--out", str(tmp_path / "x.jsonl")]) == 0
    err = capsys.readouterr().err
    assert place in err and done in err
    # No AWS words, nor the simulated Vault's temporary file as a place.
    assert "region" not in err and "global" not in err and "rescind-vault-" not in err


def test_convert_into_a_sealed_incident_is_refused(tmp_path: Path, records: list[dict[str, Any]],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from rescind.record.keys import ephemeral_signer
    from rescind.record.verify import verify_incident
    from tests.record.sample import build_incident

    incident = tmp_path / "incident"
    build_incident(incident, ephemeral_signer("Jane Doe", "jane@example.com"),
                   ephemeral_signer("Omar", "omar@example.com"))
    before = (incident / "timeline.jsonl").read_bytes()
    source = tmp_path / "delivery.json"
    source.write_text(json.dumps({"Records": records}))
    assert main(["timeline", "convert", str(source), "--incident", str(incident)]) == 2
    err = capsys.readouterr().err
    assert "is closed and sealed: its record is read-only" in err and "--out FILE" in err
    assert (incident / "timeline.jsonl").read_bytes() == before
    assert not (incident / "evidence" / "cloudtrail-delivery.json.jsonl").exists()
    assert verify_incident(incident).exit_code == 0


def test_convert_into_an_incident_shows_its_progress_on_a_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from rescind.commands import timeline

    incident = _incident(tmp_path)
    trail = tmp_path / "trail.jsonl"
    trail.write_text("".join(json.dumps({
        "eventName": "ListUsers", "eventTime": f"2026-11-20T10:00:{n:02d}Z",
        "eventID": f"00000000-0000-4000-8000-{n:012d}"}) + "\n" for n in range(12)))
    monkeypatch.setattr(timeline, "_EVERY", 5)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["timeline", "convert", str(trail), "--incident", str(incident)]) == 0
    err = capsys.readouterr().err
    assert "\r  5 events read, file 1 of 1\x1b[K\r  10 events read, file 1 of 1\x1b[K" \
        "\r  5 events sorted, of 12 read\x1b[K\r  10 events sorted, of 12 read\x1b[K" \
        "\r\x1b[Krescind: 12 records in 1 file" in err
    # Merging into the incident's own timeline (read and written whole) is shown too.
    assert "\r  5 of 12 new events merged\x1b[K\r  10 of 12 new events merged\x1b[K" \
        "\r  5 events written to timeline.jsonl, of 12 merged\x1b[K" \
        "\r  10 events written to timeline.jsonl, of 12 merged\x1b[K" \
        "\r\x1b[Krescind: 12 new events" in err
    assert len(load_events(incident / "timeline.jsonl")) == 12
    out = tmp_path / "out.csv"  # and with --out: the sorting writes it
    assert main(["timeline", "convert", str(trail), "--incident", str(incident),
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "\r  10 events sorted and written, of 12 read\x1b[K\r\x1b[Krescind: wrote 12 " \
        "records" in err
    # The incident's own 12 are read first, then the copies merged and dropped.
    assert "\r  10 events of the incident's timeline.jsonl read\x1b[K\r  5 of 12 new events " \
        "merged\x1b[K" in err and "\r  10 events written to timeline.jsonl, of 24 merged" \
        "\x1b[K\r\x1b[Krescind: 0 new events" in err


def test_convert_runs_with_stderr_closed(tmp_path: Path) -> None:
    """``2>&-`` (a cron line, a daemon): Python's sys.stderr is None; the convert still
    writes its file."""
    import os
    import subprocess

    trail = tmp_path / "trail.jsonl"
    trail.write_text(json.dumps({"eventName": "ListUsers", "eventTime": "2026-11-20T10:00:00Z",
                                 "eventID": "00000000-0000-4000-8000-000000000001"}) + "\n")
    out = tmp_path / "out.csv"
    src = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run(
        ["sh", "-c", 'exec "$0" -m rescind timeline convert "$1" --out "$2" 2>&-',
         sys.executable, str(trail), str(out)],
        env=dict(os.environ, PYTHONPATH=str(src)), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout
    assert "ListUsers" in out.read_text()


def test_convert_reads_a_folder_as_the_files_under_it(
        tmp_path: Path, records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    """An S3 sync of a trail: dated folders of delivery files, with digests beside them."""
    trail = tmp_path / "AWSLogs" / "123456789012"
    for n, record in enumerate(records):
        day = trail / "CloudTrail" / "us-east-1" / "2026" / "11" / f"{20 + n % 2:02d}"
        day.mkdir(parents=True, exist_ok=True)
        (day / f"delivery-{n}.json.gz").write_bytes(
            gzip.compress(json.dumps({"Records": [record]}).encode()))
    digest = trail / "CloudTrail-Digest" / "us-east-1"
    digest.mkdir(parents=True)
    (digest / "digest.json.gz").write_bytes(gzip.compress(b'{"digestStartTime": "x"}'))
    (trail / ".DS_Store").write_bytes(b"\x00\x01")
    out = trail / "out.csv"  # inside the folder, there from a run before: not read
    for _ in range(2):
        assert main(["timeline", "convert", str(tmp_path / "AWSLogs"), "--out", str(out)]) == 0
        err = capsys.readouterr().err
        assert f"{len(records)} files under" in err and " 0 unreadable" in err, err
        assert len(out.read_text().splitlines()) == len(records) + 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["timeline", "convert", str(empty), "--out", str(out)]) == 2
    assert "a folder with no files to read" in capsys.readouterr().err


def test_a_folder_that_cannot_be_read_stops_the_convert(
        tmp_path: Path, records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Its logs would be missing from the timeline without a word. (os.walk's listing
    refused as a permission would be: the tests run as root, which reads anything.)"""
    import os

    logs = tmp_path / "AWSLogs"
    for region in ("eu-west-1", "us-east-1"):
        (logs / region).mkdir(parents=True)
        (logs / region / "delivery.json").write_text(json.dumps({"Records": records}))
    (logs / "us-east-1" / "loop").symlink_to(logs)  # followed once, not for ever
    listing = os.scandir

    def refused(path: Any = ".") -> Any:
        if str(path).endswith("eu-west-1"):
            raise PermissionError(13, "Permission denied", str(path))
        return listing(path)

    monkeypatch.setattr(os, "scandir", refused)
    out = tmp_path / "out.csv"
    assert main(["timeline", "convert", str(logs), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot read folder {logs / 'eu-west-1'} under {logs}" in err, err
    assert not out.exists()
    monkeypatch.setattr(os, "scandir", listing)
    assert main(["timeline", "convert", str(logs), "--out", str(out)]) == 0
    assert "2 files under" in capsys.readouterr().err


def test_no_credential_named_lists_the_clouds_options(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty --entra-user was told to pass --aws-user: every cloud's option is named.
    (With none given at all, argparse lists them.)"""
    assert main(["timeline", "pull", "--entra-user", "", "--out",
                 str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "no credential named" in err
    assert all(option in err for option in ("--aws-access-key-id", "--entra-user",
                                            "--gcp-principal", "--vault-accessor"))
