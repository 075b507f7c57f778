"""The one redaction: which names hold secrets, the one marker, and the deep copy without them.

Everything that writes where a person or a file can see it — the journal, step text,
dry-run reports, audit-log timelines and their exports, the simulated cloud's trail —
decides here. A name is a secret if, lower-cased with everything but letters and
digits removed, it contains one of the secret parts (``SecretAccessKey``,
``new_password``, ``sts:ExternalId``) and is not one of the names listed as not
secret (``SecretId`` names a secret, it is not one). Each provider extends both
lists with :func:`register_secret_names` for its own API's words; erring towards
hiding is the safe side, so the core list is broad.

A few names hold credentials as a mapping whose fields are judged one by one
(``credentials`` in an STS response carries the session's key id, which a responder
traces, beside its token); any other value under such a name is hidden whole.

The decision for a name is made once and cached: a timeline of a million records
has a few hundred distinct field names.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

# CloudTrail's own marker: evidence files then carry one marker whoever hid the value.
REDACTED: Final = "HIDDEN_DUE_TO_SECURITY_REASONS"

_secret_parts: set[str] = {
    "password", "passwd", "passphrase", "secret", "token", "privatekey", "credential",
    "authorization", "externalid",
}
# The id of a credential, never its secret: rescind's Event.credential, OCSF's
# credential_uid (AWS's own fields of these names hold an ARN or a uid too).
_not_secret: set[str] = {"credential", "credentialid", "credentialuid"}
_containers: set[str] = set()
_decided: dict[str, int] = {}
_public: set[str] = set()  # names decided public: checked against a whole text's names at once
_PUBLIC, _SECRET, _CONTAINER = 0, 1, 2

_NOT_LETTER_OR_DIGIT = re.compile(r"[^0-9a-z]+")
_SECRET_WORD = re.compile("(?i)secret")
# A secret access key written inline in text (a pasted config, a log line).
_INLINE_SECRET = re.compile(r"(?i)(aws_secret_access_key|secretaccesskey)([\"'=:\s]+)[^\s\"',}]+")


def normalize(name: str) -> str:
    """``name`` lower-cased with everything but letters and digits removed."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def register_secret_names(parts: Iterable[str] = (), *, not_secret: Iterable[str] = (),
                          containers: Iterable[str] = ()) -> None:
    """Extend the one list: name ``parts`` that mark a secret, exact names that do not,
    and exact names of credential mappings judged field by field. Any spelling works
    (``ExternalId``, ``external_id``); idempotent, so a module may call it on import."""
    _secret_parts.update(normalize(p) for p in parts)
    _not_secret.update(normalize(n) for n in not_secret)
    _containers.update(normalize(n) for n in containers)
    _decided.clear()
    _public.clear()


def _decide(name: str) -> int:
    decision = _decided.get(name)
    if decision is None:
        norm = normalize(name)
        if norm in _containers:
            decision = _CONTAINER
        elif norm not in _not_secret and any(part in norm for part in _secret_parts):
            decision = _SECRET
        else:
            decision = _PUBLIC
            _public.add(name)
        _decided[name] = decision
    return decision


def is_secret_key(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (or credentials)."""
    return _decide(name) != _PUBLIC


def hides(name: str, value: Any) -> bool:
    """Whether ``value``, found under ``name``, is hidden whole.

    Empty values and booleans are never secrets (``passwordResetRequired: false``
    stays readable); a credentials mapping is not hidden whole but field by field.
    """
    decision = _decide(name)
    if decision == _PUBLIC or value is None or value == "" or isinstance(value, bool):
        return False
    return not (decision == _CONTAINER and isinstance(value, Mapping))


def redact(value: Any) -> Any:
    """A deep copy of ``value`` with every secret replaced by :data:`REDACTED`.

    Mappings lose the values of secret-named fields; JSON documents held as text
    (a trust policy, LookupEvents' CloudTrailEvent) are redacted inside and kept as
    text, unchanged when they held no secret; an inline secret access key in text is
    masked; bytes become their length. Anything else is returned as it is.
    """
    # Exact types first: a million-record timeline is plain dicts, lists and strings,
    # and an abstract-class check costs more than the rest of the work.
    kind = type(value)
    if kind is str:
        return _redact_text(value)
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        return _redact_mapping(value)
    if kind is list or isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    return value


_SCALARS = (int, float, bool, type(None))


def _redact_mapping(value: Mapping[Any, Any]) -> dict[Any, Any]:
    decided, search = _decided, _SECRET_WORD.search
    out = {}
    for k, v in value.items():
        decision = decided.get(k)
        if decision is None and isinstance(k, str):
            decision = _decide(k)
        if decision and hides(k, v):
            out[k] = REDACTED
        elif type(v) is str:  # most strings neither open a document nor say "secret"
            first = v[:1]
            out[k] = _redact_text(v) if first in "{[" or search(v) or (
                first.isspace() and v.lstrip()[:1] in "{[") else v
        elif type(v) in _SCALARS:
            out[k] = v
        else:
            out[k] = redact(v)
    return out


def _redact_text(text: str) -> str:
    # JSON after leading white space (a pretty-printed policy, a line break first) too.
    if text.lstrip()[:1] in ("{", "[") and _may_name_a_secret(text):
        try:
            parsed = json.loads(text)
        except ValueError:
            pass
        else:
            cleaned = redact(parsed)
            if cleaned != parsed:
                return json.dumps(cleaned, separators=(",", ":"))
    if _SECRET_WORD.search(text) is None:
        return text  # the inline pattern below needs the word; most text has none
    return _INLINE_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _may_name_a_secret(text: str) -> bool:
    """Whether JSON ``text`` could hold a secret-named field: parsing it is then worth it.

    Every normalised field name is a run of the text with the characters
    :func:`normalize` drops removed, so a secret part missing from the whole text
    (flattened the same way) is missing from every name in it. An escape (``\\u0073``,
    ``\\n``) would break that, so text with a backslash is always parsed.
    """
    if "\\" in text:
        return True
    flat = _NOT_LETTER_OR_DIGIT.sub("", text.lower())
    return any(part in flat for part in _secret_parts | _containers)


# A JSON field name: a string (no quote inside once \\" is unescaped) before a colon.
# Possessive (*+): a quote never matches [^"], so giving characters back cannot help, and
# not trying is 3x faster on every value string that is not a name.
_JSON_KEY = re.compile(r'"([^"]*+)"\s*:')
# A field name and, when its value is the marker or a mapping, that value's start.
_QUOTED_MARKER = f'"{REDACTED}"'
_JSON_FIELD = re.compile(r'"([^"]*+)"\s*:\s*(' + re.escape(_QUOTED_MARKER) + r'|\{)?')
_TEXT_VALUES: dict[str, Any] = {_QUOTED_MARKER: REDACTED, "{": {}}  # as _kept reads them


def is_clean_json(text: str) -> bool:
    """Whether :func:`redact` would change nothing in the value JSON ``text`` holds.

    Decided on the text, several times faster than walking the parsed value: every field
    name (those of JSON held in its strings too, once ``\\"`` is unescaped) is a
    name already decided public, or, in text without any escape, a secret's name whose
    value already is the marker (a record redacted before: CloudTrail's own, or an
    event's redacted ``raw``) or a credentials mapping's; and the word "secret" (the
    inline pattern's) is nowhere. Any other escape (``\\u0073``, ``\\\\``) could hide
    either, so it says no; so does a secret-named field with an empty value. No is
    always safe: the caller then redacts the parsed value.
    """
    flat = text.replace('\\"', '"')
    # casefold(), as the inline pattern's (?i) folds ("ſecret"); 10x faster than (?i) here
    if "\\" in flat or "secret" in flat.casefold():
        return False
    # A set difference in C: a record's names are nearly all public and already decided.
    if all(_decide(key) == _PUBLIC for key in set(_JSON_KEY.findall(flat)) - _public):
        return True
    # No escape at all: a quote ends every string, so each name's value is read exactly.
    return "\\" not in text and all(
        _kept(name, _TEXT_VALUES.get(value))
        for name, value in _JSON_FIELD.findall(text) if name not in _public)


def is_clean_document(text: str, value: Any) -> bool:
    """:func:`is_clean_json` of ``text``, given ``value`` parsed from it: faster when the
    text has no backslash (nearly every record), by checking ``value``'s field names in
    sets (every one already decided public, else :func:`_kept`) instead of finding them in
    the text, and the text for what strings could hide: the word "secret", or a string
    opening a JSON document (``"{``, ``"[``)."""
    if "\\" in text or '"{' in text or '"[' in text:
        return is_clean_json(text)
    return "secret" not in text.casefold() and _public_names(value)


def _kept(name: str, value: Any) -> bool:
    """Whether :func:`redact` keeps the field ``name`` as it is, by its name and the kind of
    its value: a public name, a value that already is the marker, or a credentials
    mapping (whose fields are judged as any others)."""
    decision = _decide(name)
    return decision == _PUBLIC or (type(value) is str and value == REDACTED) or (
        decision == _CONTAINER and type(value) is dict)


def _public_names(value: Any) -> bool:
    """Whether every field name at any depth of ``value`` is decided public, or one
    :func:`redact` keeps as it is (:func:`_kept`)."""
    kind = type(value)
    if kind is dict:
        if not value.keys() <= _public and not all(
                type(k) is str and _kept(k, v) for k, v in value.items()):
            return False
        items = value.values()
    elif kind is list:
        items = value
    else:
        return True
    for item in items:
        kind = type(item)
        if (kind is dict or kind is list) and not _public_names(item):
            return False
    return True


def redacted_json(value: Any, *, redacted: str = "", **dumps: Any) -> str:
    """``json.dumps(redact(value), **dumps)``, without the walk when there is nothing to hide.

    ``redacted`` names a top-level key of the mapping ``value`` whose text is itself the
    output of ``redacted_json`` (OCSF's ``raw_data``): :func:`redact` leaves such text as
    it is (redaction is idempotent), so it is not scanned again.
    """
    held = value.get(redacted) if redacted else None
    if not isinstance(held, str):
        text = json.dumps(value, **dumps)
        return text if is_clean_json(text) else json.dumps(redact(value), **dumps)
    # Dumped once with a placeholder no input can guess, checked, then the held text
    # put in its place: dumping the whole value twice was a third of an OCSF export.
    value[redacted] = _PLACEHOLDER
    try:
        text = json.dumps(value, **dumps)
    finally:
        value[redacted] = held
    if not is_clean_json(text):
        return json.dumps(redact(value), **dumps)
    held_json = json.dumps(held, ensure_ascii=dumps.get("ensure_ascii", True))
    return text.replace(f'"{_PLACEHOLDER}"', held_json, 1)


_PLACEHOLDER = "rescind" + secrets.token_hex(16)  # letters and digits: never escaped


def replace_values(value: Any, known: Collection[str]) -> Any:
    """A copy of ``value`` with every ``known`` secret's text replaced by :data:`REDACTED`.

    For secrets known by value rather than by name (a secret input, a secret answer, a
    secret output): the last line of defence, whatever path the value took into a
    plan, an error message or a note.
    """
    if not known:
        return value
    if isinstance(value, str):
        for secret in known:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: replace_values(v, known) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [replace_values(v, known) for v in value]
    return value
