"""Appending to the log from another thread, with a connection of that thread's own: how a test makes records
arrive while its own event loop is blocked (as during a long translation)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

from events.jetstream import JetStreamEventStore
from tests.events.sample_events import appends

DELIVERY_SECONDS = 0.2
"""Left after the last append so that its delivery reaches the subscribers' sockets, even on a busy machine."""


def append_config_maps(nats_url: str, names: Sequence[str], *, every_seconds: float = 0.0) -> None:
    """Append ConfigMaps `names`, one by one; returns once they are stored and delivered."""

    async def append() -> None:
        store = await JetStreamEventStore.connect(nats_url)
        try:
            for name in names:
                await store.append(appends(name))
                await asyncio.sleep(every_seconds)
        finally:
            await store.close()

    asyncio.run(append())
    time.sleep(DELIVERY_SECONDS)


def append_while_blocked(nats_url: str, names: Sequence[str]) -> None:
    """Append `names` from another thread and wait for it: the calling thread's event loop stays blocked, so
    the records wait in its sockets."""
    appender = threading.Thread(target=append_config_maps, args=(nats_url, names))
    appender.start()
    appender.join()
