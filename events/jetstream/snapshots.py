"""Projection snapshots in a JetStream object store, beside the event stream they were folded from.

Objects are named `state-<seq>` (zero-padded, so names sort by sequence). The newest `KEEP` are kept, so that
a snapshot found corrupt or incompatible on start can be passed over for an older one; so is the first one
past every `MILESTONE_EVENTS` of the log (the newest `MILESTONES_KEPT` of those), so that `egd replay` of a
point long ago folds at most that many events on top of a snapshot. The object store
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
MILESTONE_EVENTS = 100_000
MILESTONES_KEPT = 100
_PREFIX = "state-"


class JetStreamSnapshots:
    def __init__(self, bucket: ObjectStore, log_identity: str) -> None:
        self._bucket = bucket
        self.log_identity = log_identity
        """Which log the snapshots are of: the stream's name and creation time. A stream deleted and created
        anew is another log, and the snapshots of the old one must not be trusted for it."""

    @classmethod
    async def open(cls, store: JetStreamEventStore, *, replicas: int = 1) -> Self:
        """The snapshots beside `store`'s stream; the bucket is created if missing."""
        found = await cls.open_existing(store)
        if found is not None:
            return found
        js = store.connection.jetstream()
        bucket = await js.create_object_store(
            BUCKET,
            config=ObjectStoreConfig(
                bucket=BUCKET, storage=StorageType.FILE, replicas=replicas, description="egd projection snapshots"
            ),
        )
        return cls(bucket, await _log_identity(store))

    @classmethod
    async def open_existing(cls, store: JetStreamEventStore) -> Self | None:
        """The snapshots beside `store`'s stream, or None when there are none (nothing is created)."""
        js = store.connection.jetstream()
        try:
            bucket = await js.object_store(BUCKET)
        except nats.js.errors.BucketNotFoundError:
            return None
        return cls(bucket, await _log_identity(store))

    async def save(self, seq: int, data: bytes) -> None:
        await self._bucket.put(f"{_PREFIX}{seq:020d}", data)
        names = await self._names()
        for old in set(names) - kept(names):
            await self._bucket.delete(old)

    async def newest_first(self, *, at_or_before: int | None = None) -> AsyncIterator[tuple[int, bytes]]:
        """(sequence, bytes) of every kept snapshot (of those at or before a sequence, if given), newest first;
        fetched one at a time as the caller asks."""
        for name in await self._names():
            if at_or_before is not None and _seq_of(name) > at_or_before:
                continue
            try:
                result = await self._bucket.get(name)
            except nats.js.errors.ObjectNotFoundError:
                continue  # deleted by another replica's `save` since we listed
            yield _seq_of(name), result.data or b""

    async def _names(self) -> list[str]:
        try:
            infos = await self._bucket.list(ignore_deletes=True)
        except nats.js.errors.NotFoundError:
            return []
        return sorted((i.name for i in infos if i.name and i.name.startswith(_PREFIX)), reverse=True)


def _seq_of(name: str) -> int:
    return int(name.removeprefix(_PREFIX))


def kept(names_newest_first: list[str]) -> set[str]:
    """The newest `KEEP`, and the oldest snapshot of each of the newest `MILESTONES_KEPT` milestones."""
    keep = set(names_newest_first[:KEEP])
    first_of_milestone: dict[int, str] = {}
    for name in names_newest_first:  # newest first: the last seen per milestone is its oldest
        first_of_milestone[_seq_of(name) // MILESTONE_EVENTS] = name
    for milestone in sorted(first_of_milestone, reverse=True)[:MILESTONES_KEPT]:
        keep.add(first_of_milestone[milestone])
    return keep


async def _log_identity(store: JetStreamEventStore) -> str:
    info = await store.connection.jetstream().stream_info(store.stream)
    return f"{store.stream}@{info.created}"
