from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rescind.errors import RescindError
from rescind.record import allowed_signers as al
from rescind.record import sshsig
from tests.record.conftest import SshKey, make_key


def test_options_patterns_and_validity(jane: SshKey, omar: SshKey, keys_dir: Path) -> None:
    jane_line = " ".join(jane.pub_path.read_text().split()[:2])
    omar_line = " ".join(omar.pub_path.read_text().split()[:2])
    rsa = make_key(keys_dir, "rsa_allowed", "r@example.com", key_type="rsa")
    text = "\n".join([
        "# team keys",
        "",
        f'"jane@example.com,ops@example.com" namespaces="rescind-*,!rescind-approval" '
        f"{jane_line} laptop",
        f'*@example.com,!mallory@example.com valid-before="20200101" {omar_line}',
        f"omar@example.com cert-authority {omar_line}",
        f"r@example.com {rsa.pub_path.read_text().strip()}",
    ])
    entries = al.parse(text)
    assert len(entries) == 4
    jane_key = jane.private.public_key()
    assert al.find_principals(entries, jane_key, "rescind-incident") == [
        "jane@example.com", "ops@example.com"]
    assert al.find_principals(entries, jane_key, "rescind-approval") == []
    omar_key = omar.private.public_key()
    # Expired line and a cert-authority line: neither trusts omar's key today.
    assert al.find_principals(entries, omar_key, "rescind-incident") == []
    assert al.find_principals(entries, omar_key, "rescind-incident",
                              now=datetime(2019, 6, 1, tzinfo=UTC)) == ["*@example.com"]
    assert entries[3].key is None  # an RSA line is kept but never matches


def test_signer_line_round_trips(jane: SshKey) -> None:
    line = al.signer_line("jane@example.com", jane.pub_path.read_text())
    (entry,) = al.parse(line)
    assert entry.principals == ("jane@example.com",)
    assert entry.namespaces == ("rescind-incident", "rescind-approval")
    assert entry.key_fingerprint == sshsig.fingerprint(jane.private.public_key())


@pytest.mark.parametrize("bad", ["jane@example.com",
                                 'jane@example.com namespaces="x ssh-ed25519 AAAA',
                                 "jane@example.com bogus-option ssh-ed25519 AAAA",
                                 "jane@example.com ssh-ed25519 !!!!"])
def test_malformed_lines_name_the_line(bad: str) -> None:
    with pytest.raises(RescindError, match=r"^team:2: "):
        al.parse("# ok\n" + bad, source="team")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RescindError, match="does not exist"):
        al.load(tmp_path / "nope")
