"""What a daemon serves, read the way a command can: through its admin API (objects, a Gateway's IR), or by
folding and translating the whole log in this process when no daemon is known. Apart from `egd.client` so
that commands that only write (`egd apply`) do not import the HTTP client and the pipeline."""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec

from events.errors import StoreUnavailableError
from events.jetstream import JetStreamEventStore
from projections.ir import GatewayIR
from projections.pipeline import Pipeline


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
