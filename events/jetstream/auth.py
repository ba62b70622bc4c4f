"""How egd proves who it is to NATS, and the TLS it speaks: one typed value threaded from the command line
to nats-py's `connect`.

At most one way of authenticating is used: a creds file (user JWT + NKey seed, for NATS's decentralised
accounts), an NKey seed file, a user and password, or a token. TLS is independent of them: a CA to trust
the server with, and a client certificate and key when the server asks for one (mutual TLS).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import msgspec


class NatsAuth(msgspec.Struct, frozen=True, kw_only=True):
    creds_file: Path | None = None
    nkey_seed_file: Path | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def __repr__(self) -> str:  # never print a secret in a log line or a traceback
        return f"NatsAuth(method={self.method()!r}, tls={self.uses_tls()})"

    def method(self) -> str:
        """Which way of authenticating this is: creds, nkey, user, token or none."""
        given = [
            name
            for name, value in (
                ("creds", self.creds_file),
                ("nkey", self.nkey_seed_file),
                ("user", self.user),
                ("token", self.token),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give one way to authenticate to NATS, not {' and '.join(given)}")
        if self.password is not None and self.user is None:
            raise ValueError("a NATS password needs a user")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("a NATS TLS client certificate and its key go together")
        return given[0] if given else "none"

    def uses_tls(self) -> bool:
        return self.tls_ca is not None or self.tls_cert is not None

    def connect_options(self) -> dict[str, Any]:
        """The keyword arguments of nats-py's `Client.connect` for this identity and TLS."""
        method = self.method()
        options: dict[str, Any] = {}
        if method == "creds":
            options["user_credentials"] = str(self.creds_file)
        elif method == "nkey":
            options["nkeys_seed"] = str(self.nkey_seed_file)
        elif method == "user":
            options["user"] = self.user
            options["password"] = self.password or ""
        elif method == "token":
            options["token"] = self.token
        if self.uses_tls():
            options["tls"] = self.ssl_context()
        return options

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the server against `tls_ca` (else the system's CAs); presents `tls_cert` when given."""
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(self.tls_ca) if self.tls_ca is not None else None
        )
        if self.tls_cert is not None and self.tls_key is not None:
            context.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        return context


NO_AUTH = NatsAuth()
