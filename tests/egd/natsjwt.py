"""NATS decentralised auth for tests: an operator, its accounts and their users as NKeys and signed JWTs
(NATS JWT v2), a `.creds` file for a user, and the nats-server configuration of an operator with a memory
resolver that preloads its accounts.

A JWT is `b64url(header).b64url(claims).b64url(signature)`, unpadded, the header
`{"typ":"JWT","alg":"ed25519-nkey"}`, the signature ed25519 by the issuer's NKey over the first two parts. The
operator signs itself and its accounts; an account signs its users."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import nkeys

UNLIMITED = -1
_HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Identity:
    """An NKey of one kind (operator, account, user): its seed and public key."""

    def __init__(self, prefix: int) -> None:
        self.seed = nkeys.encode_seed(os.urandom(32), prefix)
        self.keys = nkeys.from_seed(bytearray(self.seed))
        self.public_key = str(self.keys.public_key.decode())


def encode_jwt(subject: str, name: str, issuer: Identity, nats: dict[str, Any]) -> str:
    claims: dict[str, Any] = {
        "jti": "",
        "iat": int(time.time()),
        "iss": issuer.public_key,
        "name": name,
        "sub": subject,
        "nats": {**nats, "version": 2},
    }
    # jti: the base32 SHA-512/256 of the claims without it, as nats-io/jwt computes it
    digest = hashlib.new("sha512_256", json.dumps(claims, separators=(",", ":")).encode()).digest()
    claims["jti"] = base64.b32encode(digest).decode().rstrip("=")
    signed = f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    return f"{signed}.{_b64(issuer.keys.sign(signed.encode()))}"


class Account:
    def __init__(self, operator: Identity, name: str, *, jetstream: bool) -> None:
        self.identity = Identity(nkeys.PREFIX_BYTE_ACCOUNT)
        limits: dict[str, int | bool] = {
            "subs": UNLIMITED,
            "data": UNLIMITED,
            "payload": UNLIMITED,
            "imports": UNLIMITED,
            "exports": UNLIMITED,
            "wildcards": True,
            "conn": UNLIMITED,
            "leaf": UNLIMITED,
        }
        if jetstream:
            limits |= {"mem_storage": UNLIMITED, "disk_storage": UNLIMITED, "streams": UNLIMITED, "consumer": UNLIMITED}
        nats = {"type": "account", "limits": limits, "default_permissions": {"pub": {}, "sub": {}}}
        self.jwt = encode_jwt(self.identity.public_key, name, operator, nats)

    def user_creds(self, name: str) -> str:
        """A new user of this account, as the text of a `.creds` file."""
        user = Identity(nkeys.PREFIX_BYTE_USER)
        nats = {"type": "user", "pub": {}, "sub": {}, "subs": UNLIMITED, "data": UNLIMITED, "payload": UNLIMITED}
        jwt = encode_jwt(user.public_key, name, self.identity, nats)
        return (
            f"-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n"
            f"************************* IMPORTANT *************************\n"
            f"NKEY Seed printed below can be used to sign and prove identity.\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{user.seed.decode()}\n------END USER NKEY SEED------\n"
        )


class Operator:
    """An operator with a system account and one application account (JetStream enabled)."""

    def __init__(self, name: str) -> None:
        self.identity = Identity(nkeys.PREFIX_BYTE_OPERATOR)
        self.system = Account(self.identity, "SYS", jetstream=False)
        self.app = Account(self.identity, "APP", jetstream=True)
        nats = {"type": "operator", "system_account": self.system.identity.public_key}
        self.jwt = encode_jwt(self.identity.public_key, name, self.identity, nats)

    def server_config(self) -> str:
        """nats-server configuration trusting this operator, its accounts preloaded in a memory resolver."""
        preload = "\n".join(f"  {a.identity.public_key}: {a.jwt}" for a in (self.system, self.app))
        return (
            f"operator: {self.jwt}\n"
            f"system_account: {self.system.identity.public_key}\n"
            "resolver: MEMORY\n"
            f"resolver_preload: {{\n{preload}\n}}\n"
        )


def write_creds(path: Path, creds: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(creds)
    path.chmod(0o600)
    return path
