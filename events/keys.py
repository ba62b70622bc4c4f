"""Resource keys and their NATS subjects.

A resource lives on the subject `egd.v1.res.<kind>.<namespace>.<name>`; cluster-scoped kinds use `_` as
namespace. Kubernetes names may hold characters that a NATS token cannot (`.`, `*`, `>`, spaces, non-ASCII),
so every token is escaped reversibly: ASCII letters, digits and `-` stand for themselves, every other byte of
the UTF-8 form becomes `_` followed by two upper-case hex digits. A literal `_` is therefore `_5F`, and the
bare `_` stays free to mean "no namespace".
"""

from __future__ import annotations

import functools
import re

import msgspec

from events.errors import InvalidKeyError

SUBJECT_PREFIX = "egd.v1.res"
ALL_RESOURCES_SUBJECT = f"{SUBJECT_PREFIX}.>"
CLUSTER_SCOPE_TOKEN = "_"

_PLAIN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9-]+")
_ESCAPED_TOKEN = re.compile(r"(?:[A-Za-z0-9-]|_[0-9A-F]{2})+")


# The hash is cached (`cache_hash`): keys are hashed over and over, in dicts and in translation's tokens. (The
# docstring is the key's description in the published event schema.)
class ResourceKey(msgspec.Struct, frozen=True, kw_only=True, order=True, cache_hash=True):
    """Identity of one resource. `group` is "" for the core API group, `namespace` "" when cluster-scoped."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


def encode_token(text: str) -> str:
    """Escape one subject token; the inverse of `decode_token`."""
    if not text:
        raise InvalidKeyError("a subject token cannot be empty")
    if _PLAIN_TOKEN.fullmatch(text):
        return text
    out: list[str] = []
    for byte in text.encode("utf-8"):
        out.append(chr(byte) if byte in _PLAIN_BYTES else f"_{byte:02X}")
    return "".join(out)


def decode_token(token: str) -> str:
    """Undo `encode_token`; raises InvalidKeyError on a token that `encode_token` cannot produce."""
    if not _ESCAPED_TOKEN.fullmatch(token):
        raise InvalidKeyError(f"not an escaped subject token: {token!r}")
    raw = bytearray()
    i = 0
    while i < len(token):
        if token[i] == "_":
            raw.append(int(token[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.append(ord(token[i]))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidKeyError(f"subject token {token!r} is not UTF-8 once unescaped") from exc


@functools.lru_cache(maxsize=65_536)
def subject_for(key: ResourceKey) -> str:
    """The subject that carries every event of `key` (cached: the fold checks it for every event)."""
    if not key.name:
        raise InvalidKeyError(f"{key.kind} has no name")
    namespace = encode_token(key.namespace) if key.namespace else CLUSTER_SCOPE_TOKEN
    return f"{SUBJECT_PREFIX}.{encode_token(key.kind)}.{namespace}.{encode_token(key.name)}"


def subject_filter(kind: str | None = None, namespace: str | None = None) -> str:
    """A NATS subject filter for every resource, or those of one kind, optionally in one namespace."""
    if kind is None:
        return ALL_RESOURCES_SUBJECT
    if namespace is None:
        return f"{SUBJECT_PREFIX}.{encode_token(kind)}.>"
    ns = encode_token(namespace) if namespace else CLUSTER_SCOPE_TOKEN
    return f"{SUBJECT_PREFIX}.{encode_token(kind)}.{ns}.*"


def parse_subject(subject: str) -> tuple[str, str, str]:
    """(kind, namespace, name) named by a resource subject; namespace is "" for cluster-scoped resources."""
    prefix = SUBJECT_PREFIX + "."
    if not subject.startswith(prefix):
        raise InvalidKeyError(f"not a resource subject: {subject!r}")
    tokens = subject[len(prefix) :].split(".")
    if len(tokens) != 3:
        raise InvalidKeyError(f"a resource subject has kind, namespace and name tokens: {subject!r}")
    kind, namespace, name = tokens
    return (
        decode_token(kind),
        "" if namespace == CLUSTER_SCOPE_TOKEN else decode_token(namespace),
        decode_token(name),
    )
