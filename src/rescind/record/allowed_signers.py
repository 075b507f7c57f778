"""OpenSSH ``allowed_signers`` files: which key may sign as whom, for which namespaces.

Parsed the way ``ssh-keygen -Y verify`` reads them (ssh-keygen(1), "ALLOWED
SIGNERS"), so rescind and stock tools agree on who is trusted: principals and
namespaces are comma-separated patterns with ``*`` and ``?``, ``valid-after`` /
``valid-before`` are checked against the current time as ssh-keygen does. Keys
other than ssh-ed25519 and ``cert-authority`` lines are kept but never match:
rescind signs with plain Ed25519 keys only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from rescind.errors import RescindError
from rescind.record import sshsig

NAMESPACES = "rescind-incident,rescind-approval"


@dataclass(frozen=True)
class AllowedSigner:
    principals: tuple[str, ...]
    namespaces: tuple[str, ...] | None  # None: any namespace
    key: Ed25519PublicKey | None  # None: a key type rescind does not use
    key_fingerprint: str | None
    cert_authority: bool = False
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    lineno: int = 0


def signer_line(principal: str, public_key_line: str, namespaces: str = NAMESPACES) -> str:
    """``jane@example.com namespaces="..." ssh-ed25519 AAAA...`` (no comment)."""
    key = " ".join(public_key_line.split()[:2])
    return f'{principal} namespaces="{namespaces}" {key}'


def _pattern_match(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def match_pattern_list(value: str, patterns: Iterable[str]) -> bool:
    """OpenSSH pattern lists: any positive match, and no ``!negated`` match."""
    matched = False
    for pat in patterns:
        if pat.startswith("!"):
            if _pattern_match(pat[1:], value):
                return False
        elif _pattern_match(pat, value):
            matched = True
    return matched


def _take_field(text: str) -> tuple[str, str]:
    """Split off one whitespace-delimited field; double quotes may hold spaces."""
    text = text.lstrip()
    out = []
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            quoted = not quoted
        elif c.isspace() and not quoted:
            break
        out.append(c)
        i += 1
    if quoted:
        raise ValueError("unterminated quote")
    return "".join(out), text[i:]


def _split_options(field: str) -> list[str]:
    parts, cur, quoted = [], [], False
    for c in field:
        if c == '"':
            quoted = not quoted
            cur.append(c)
        elif c == "," and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return [p for p in parts if p]


def _parse_time(value: str) -> datetime:
    v = value.strip('"')
    utc = v.endswith(("Z", "z"))
    v = v.rstrip("Zz")
    fmt = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}.get(len(v))
    if fmt is None:
        raise ValueError(f"bad time {value!r}")
    parsed = datetime.strptime(v, fmt)
    # ssh-keygen reads times without Z as local time.
    return parsed.replace(tzinfo=UTC) if utc else parsed.astimezone(UTC)


def parse_line(line: str, lineno: int = 0) -> AllowedSigner | None:
    """One line; None for blank lines and comments. Raises ValueError when malformed."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    principals_field, rest = _take_field(text)
    principals = tuple(p for p in principals_field.strip('"').split(",") if p)
    if not principals:
        raise ValueError("no principals")
    rest = rest.lstrip()
    namespaces: tuple[str, ...] | None = None
    cert_authority = False
    valid_after = valid_before = None
    first, after = _take_field(rest)
    if first and not (first.startswith(("ssh-", "ecdsa-", "sk-", "rsa-"))):
        for opt in _split_options(first):
            name, _, value = opt.partition("=")
            name = name.lower()
            if name == "namespaces":
                namespaces = tuple(n for n in value.strip('"').split(",") if n)
            elif name == "cert-authority":
                cert_authority = True
            elif name == "valid-after":
                valid_after = _parse_time(value)
            elif name == "valid-before":
                valid_before = _parse_time(value)
            else:
                raise ValueError(f"unknown option {name!r}")
        rest = after
    key_type, rest = _take_field(rest)
    key_b64, _comment = _take_field(rest)
    if not key_type or not key_b64:
        raise ValueError("no public key")
    key: Ed25519PublicKey | None = None
    fp: str | None = None
    if key_type == sshsig.KEY_TYPE:
        try:
            key = sshsig.parse_public_key_line(f"{key_type} {key_b64}")
        except RescindError as exc:
            raise ValueError(exc.message) from None
        fp = sshsig.fingerprint(key)
    return AllowedSigner(principals, namespaces, key, fp, cert_authority,
                         valid_after, valid_before, lineno)


def parse(text: str, *, source: str = "allowed_signers") -> list[AllowedSigner]:
    """All entries of a file's text. Raises RescindError naming the bad line."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        try:
            entry = parse_line(line, n)
        except ValueError as exc:
            raise RescindError(f"{source}:{n}: {exc}",
                               fix="each line is `PRINCIPALS [OPTIONS] ssh-ed25519 AAAA...`"
                               ) from None
        if entry is not None:
            out.append(entry)
    return out


def load(path: Path) -> list[AllowedSigner]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RescindError(f"{path} does not exist",
                           fix="pass the team's allowed_signers file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RescindError(f"cannot read {path}: {exc}") from None
    return parse(text, source=str(path))


def find_principals(signers: Iterable[AllowedSigner], key: Ed25519PublicKey, namespace: str,
                    now: datetime | None = None) -> list[str]:
    """Principals whose line lists ``key`` for ``namespace`` and is valid ``now``."""
    fp = sshsig.fingerprint(key)
    when = now or datetime.now(UTC)
    found: list[str] = []
    for s in signers:
        if s.cert_authority or s.key_fingerprint != fp:
            continue
        if s.namespaces is not None and not match_pattern_list(namespace, s.namespaces):
            continue
        if (s.valid_after and when < s.valid_after) or (s.valid_before and when > s.valid_before):
            continue
        found.extend(p for p in s.principals if not p.startswith("!"))
    return found
