"""How commands find a daemon and its log: NATS through `--nats-url` or the data dir, and the daemon's admin
API, if any, through the data dir (what it serves is read in `egd.served`)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from egd.datadir import DataDir
from events.errors import StoreUnavailableError
from events.jetstream import JetStreamEventStore
from events.jetstream.auth import NO_AUTH, NatsAuth


class Target(msgspec.Struct, frozen=True, kw_only=True):
    nats_url: str
    admin_url: str | None


_command_auth = NO_AUTH


def use_nats_auth(auth: NatsAuth) -> None:
    """The NATS credentials and TLS of this process's command, from its flags: every NATS connection the
    command opens uses them (a command is one process)."""
    global _command_auth
    _command_auth = auth


def current_nats_auth() -> NatsAuth:
    return _command_auth


def resolve_target(nats_url: str | None, data_dir: Path) -> Target:
    recorded = DataDir(data_dir)
    admin_url = recorded.read_admin_url()
    if nats_url is not None:
        # The data dir's admin API speaks for this NATS only if the daemon there uses the same one.
        same_daemon = recorded.read_nats_url() == nats_url
        return Target(nats_url=nats_url, admin_url=admin_url if same_daemon else None)
    recorded_url = recorded.read_nats_url()
    if recorded_url is None:
        raise StoreUnavailableError(
            f"no running egd found in data dir {data_dir} (start one with `egd serve`, or pass --nats-url)"
        )
    return Target(nats_url=recorded_url, admin_url=admin_url)


def nats_servers(nats_url: str) -> list[str]:
    """`--nats-url` takes one URL or a comma-separated list (the servers of a cluster)."""
    return [url.strip() for url in nats_url.split(",") if url.strip()]


async def open_store(
    nats_url: str, *, auth: NatsAuth | None = None, manage_stream: bool = False, replicas: int = 1
) -> JetStreamEventStore:
    """The event store on `nats_url`. Only the daemon manages the stream's configuration (`manage_stream`);
    the other commands use the stream as they find it, so they never need the permission to change it."""
    return await JetStreamEventStore.connect(
        nats_servers(nats_url),
        replicas=replicas,
        auth=auth if auth is not None else _command_auth,
        manage_stream=manage_stream,
    )
