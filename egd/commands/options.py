"""Options shared by the commands that talk to a daemon."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from egd.datadir import DEFAULT_DATA_DIR

F = TypeVar("F", bound=Callable[..., Any])


def daemon_options(command: F) -> F:
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


def audit_options(command: F) -> F:
    command = click.option("--actor", default=None, help="Who makes the change (default: the OS user).")(command)
    command = click.option("--reason", default="", help="Why: recorded in the audit trail.")(command)
    return command


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter(f"{text!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)
