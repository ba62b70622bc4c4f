"""Projection snapshots in a JetStream object store, beside the event stream they were folded from.

Objects are named `state-<seq>` (zero-padded, so names sort by sequence); the newest `KEEP` are kept, so that
a snapshot found corrupt or incompatible on start can be passed over for an older one. The object store
writes an object's chunks before its metadata, so a snapshot cut short by a crash is never listed.
What a snapshot holds is the projections' business: here it is opaque bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Self

import nats.js.errors
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.object_store import ObjectStore

from events.jetstream.store import JetStreamEventStore

BUCKET = "EGD_SNAPSHOTS"
KEEP = 3
_PREFIX = "state-"


class JetStreamSnapshots:
    def __init__(self, bucket: ObjectStore, log_identity: str) -> None:
        self._bucket = bucket
        self.log_identity = log_identity
        """Which log the snapshots are of: the stream's name and creation time. A stream deleted and created
        anew is another log, and the snapshots of the old one must not be trusted for it."""

    @classmethod
    async def open(cls, store: JetStreamEventStore, *, replicas: int = 1) -> Self:
        js = store.connection.jetstream()
        try:
            bucket = await js.object_store(BUCKET)
        except nats.js.errors.BucketNotFoundError:
            bucket = await js.create_object_store(
                BUCKET,
                config=ObjectStoreConfig(
                    bucket=BUCKET, storage=StorageType.FILE, replicas=replicas, description="egd projection snapshots"
                ),
            )
        info = await js.stream_info(store.stream)
        return cls(bucket, f"{store.stream}@{info.created}")

    async def save(self, seq: int, data: bytes) -> None:
        await self._bucket.put(f"{_PREFIX}{seq:020d}", data)
        for old in (await self._names())[KEEP:]:
            await self._bucket.delete(old)

    async def newest_first(self) -> AsyncIterator[tuple[int, bytes]]:
        """(sequence, bytes) of every kept snapshot, newest first; fetched one at a time as the caller asks."""
        for name in await self._names():
            try:
                result = await self._bucket.get(name)
            except nats.js.errors.ObjectNotFoundError:
                continue  # deleted by another replica's `save` since we listed
            yield int(name.removeprefix(_PREFIX)), result.data or b""

    async def _names(self) -> list[str]:
        try:
            infos = await self._bucket.list(ignore_deletes=True)
        except nats.js.errors.NotFoundError:
            return []
        return sorted((i.name for i in infos if i.name and i.name.startswith(_PREFIX)), reverse=True)
