from __future__ import annotations

import re
from pathlib import Path

import pytest

from rescind.record.journal import Journal
from rescind.record.report import render_report
from tests.record.conftest import SshKey
from tests.record.sample import INCIDENT, Sample, build_incident


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, jane: SshKey, omar: SshKey) -> Sample:
    folder = tmp_path_factory.mktemp("report") / "incident"
    return build_incident(folder, jane.signer("Jane Doe"), omar.signer("Omar"), do_seal=False)


def section(text: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}.*?(?=^## |\Z)", text, flags=re.M | re.S)
    assert m, f"no section {title}"
    return m.group(0)


def test_header_names_who_what_when(sample: Sample) -> None:
    text = (sample.dir / "report.md").read_text()
    opened, closed = sample.entries[0], sample.entries[-2]
    assert text.startswith(f"# Incident {INCIDENT}: Leaked AWS access key\n")
    assert "| Mode | EXERCISE |" in text
    assert "Jane Doe <jane@example.com> `SHA256:" in text
    assert f"| Started | {opened.time} |" in text
    assert f"| Ended | {closed.time} (resolved) |" in text
    assert f"| Journal | {len(sample.entries)} lines, head `{sample.entries[-1].sha256}` |" in text
    assert "`aws-access-key-compromise`" in text


def test_each_step_and_its_outcome(sample: Sample) -> None:
    text = (sample.dir / "report.md").read_text()
    contain = section(text, "Contain")
    assert "### `scope` (manual): Identify the leaked credential — done" in contain
    assert "note: found in a \\*public\\* gist \\<script\\>" in contain  # inert Markdown
    plan_hash = next(e.data["plan_hash"] for e in sample.entries if e.kind == "action.plan")
    assert f"plan `{plan_hash}`: `aws.iam.deactivate_access_key`, risk critical" in contain
    assert "change: `AKIAIOSFODNN7EXAMPLE` Status: `Active` → `Inactive`" in contain
    assert f"approved (two-person) plan `{plan_hash[:12]}` by Jane Doe" in contain
    assert "second approver key `SHA256:" in contain
    assert "applied plan" in contain and "verified: key status is Inactive" in contain
    assert "checkpoint, seq" in contain
    assess = section(text, "Assess")
    assert "answer: billing \\| s3" in assess
    assert "dry-run blocked: would call `iam:PutUserPolicy`" in assess
    assert "### `revoke-sessions` (action): Revoke sessions — failed" in assess
    assert "responder chose **skip**: no permission; ticket IR-2 opened" in assess
    assert "### `tell-security` — skipped" in assess and "condition false" in assess
    assert "answer: \\[redacted\\]" in assess  # redaction kept as the engine wrote it
    assert "custom.thing: `{\"detail\": \"an entry kind the report does not know\"}`" in assess
    assert "closed: resolved" in section(text, "Session")


def test_anchors_and_commands(sample: Sample) -> None:
    text = (sample.dir / "report.md").read_text()
    anchors = section(text, "Anchors")
    for a in sample.anchors:
        assert a.line in anchors
    verify = section(text, "Verify this record")
    for a in sample.anchors:
        assert (f"head -n {a.seq + 1} journal.jsonl | ssh-keygen -Y verify -f allowed_signers "
                f"-I jane@example.com -n rescind-incident -s signatures/journal.{a.seq}.sig"
                in verify)
    assert "sha256sum -c SHA256SUMS" in verify
    assert "rescind verify ." in verify and f"--anchor '{sample.anchors[0].line}'" in verify
    assert "cut -c10-73" in verify


def test_report_is_deterministic_from_the_journal(sample: Sample) -> None:
    again = render_report(sample.dir, Journal.open(sample.dir / "journal.jsonl").entries(),
                          signer_email="jane@example.com", anchors=sample.anchors)
    assert again == (sample.dir / "report.md").read_text()


def test_minimal_and_odd_journals_render(tmp_path: Path) -> None:
    with Journal.create(tmp_path / "journal.jsonl") as j:
        j.append("note", {"text": "no incident.open at all"})
        j.append("step.failed", {"step": "x"})
        entries = j.entries()
    text = render_report(tmp_path, entries, signer_email="jane@example.com", anchors=[])
    assert f"| Incident | `{tmp_path.name}` |" in text
    assert "No checkpoint was signed." in text
    assert "### `x` — failed" in text
