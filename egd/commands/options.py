"""Options shared by the commands that talk to a daemon."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from egd.client import use_nats_auth
from egd.datadir import DEFAULT_DATA_DIR
from events.jetstream.auth import NatsAuth

F = TypeVar("F", bound=Callable[..., Any])

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


def daemon_options(command: F) -> F:
    command = nats_auth_options(command)
    command = click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=DEFAULT_DATA_DIR,
        show_default=True,
        help="Where `egd serve` records its NATS and admin addresses.",
    )(command)
    command = click.option(
        "--nats-url", default=None, envvar="EGD_NATS_URL", help="NATS to use instead of the data dir's daemon."
    )(command)
    return command


def nats_auth_options(command: F) -> F:
    """The NATS credentials and TLS flags, as one `NatsAuth` that every NATS connection of the command uses
    (`egd.client.use_nats_auth`)."""

    @functools.wraps(command)
    def with_auth(
        *args: Any,
        nats_creds: Path | None,
        nats_nkey: Path | None,
        nats_user: str | None,
        nats_password: str | None,
        nats_token: str | None,
        nats_tls_ca: Path | None,
        nats_tls_cert: Path | None,
        nats_tls_key: Path | None,
        **kwargs: Any,
    ) -> Any:
        auth = NatsAuth(
            creds_file=nats_creds,
            nkey_seed_file=nats_nkey,
            user=nats_user,
            password=nats_password,
            token=nats_token,
            tls_ca=nats_tls_ca,
            tls_cert=nats_tls_cert,
            tls_key=nats_tls_key,
        )
        try:
            auth.method()
        except ValueError as error:
            raise click.UsageError(str(error)) from error
        use_nats_auth(auth)
        return command(*args, **kwargs)

    decorated: Any = with_auth
    for option in reversed(
        (
            click.option("--nats-creds", type=_FILE, default=None, help="NATS credentials file (user JWT + NKey)."),
            click.option("--nats-nkey", type=_FILE, default=None, help="File holding a NATS user NKey seed."),
            click.option("--nats-user", default=None, envvar="EGD_NATS_USER", help="NATS user."),
            click.option("--nats-password", default=None, envvar="EGD_NATS_PASSWORD", help="NATS user's password."),
            click.option("--nats-token", default=None, envvar="EGD_NATS_TOKEN", help="NATS authentication token."),
            click.option("--nats-tls-ca", type=_FILE, default=None, help="CA bundle to verify the NATS server with."),
            click.option("--nats-tls-cert", type=_FILE, default=None, help="Client certificate for mutual TLS."),
            click.option("--nats-tls-key", type=_FILE, default=None, help="Key of --nats-tls-cert."),
        )
    ):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def audit_options(command: F) -> F:
    command = click.option("--actor", default=None, help="Who makes the change (default: the OS user).")(command)
    command = click.option("--reason", default="", help="Why: recorded in the audit trail.")(command)
    return command


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter(f"{text!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)
