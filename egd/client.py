"""How commands find and talk to a daemon: NATS through `--nats-url` or the data dir, the admin API
through the data dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from egd.datadir import DataDir
from events.errors import StoreUnavailableError
from events.jetstream import JetStreamEventStore
from events.jetstream.auth import NO_AUTH, NatsAuth
from projections.ir import GatewayIR
from projections.pipeline import Pipeline


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


async def translated_log(store: JetStreamEventStore) -> Pipeline:
    """The whole log folded and translated in this process: what a daemon caught up with it serves."""
    pipeline = Pipeline()
    async for record in store.read():
        pipeline.fold(record, translate=False)
    pipeline.translate_all()
    return pipeline


async def _fetch(admin_url: str, path: str, params: dict[str, str]) -> bytes:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{admin_url}{path}", params=params, timeout=aiohttp.ClientTimeout(total=30)) as response,
        ):
            body = await response.read()
            if response.status != 200:
                raise StoreUnavailableError(f"egd admin API at {admin_url}: HTTP {response.status}: {body.decode()}")
    except aiohttp.ClientError as exc:
        raise StoreUnavailableError(f"cannot reach the egd admin API at {admin_url}: {exc}") from exc
    return body


async def fetch_objects(admin_url: str, *, min_seq: int, query: dict[str, str]) -> list[dict[str, Any]]:
    """The daemon's folded objects once it has folded `min_seq` (read-your-writes)."""
    body = await _fetch(admin_url, "/api/v1/objects", {**query, "min_seq": str(min_seq)})
    items: list[dict[str, Any]] = msgspec.json.decode(body)["items"]
    return items


async def fetch_gateway_ir(admin_url: str, *, min_seq: int, gateway: str) -> GatewayIR | None:
    """The daemon's IR of `gateway` (`<namespace>/<name>`) once it has translated `min_seq`; None without it."""
    body = await _fetch(admin_url, "/api/v1/ir", {"gateway": gateway, "min_seq": str(min_seq)})
    found = msgspec.json.decode(body, type=list[GatewayIR])
    return found[0] if found else None
