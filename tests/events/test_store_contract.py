"""One contract, two stores: every test here runs against MemoryEventStore and JetStreamEventStore."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from datetime import UTC, datetime

import pytest

from egd.natsserver import NatsServerProcess
from events.codec import encode_event
from events.errors import ConflictError
from events.jetstream import JetStreamEventStore
from events.keys import subject_filter, subject_for
from events.memory import MemoryEventStore
from events.schema import LogRecord
from events.store import ATOMIC_BATCH_LIMIT, Append, EventStore
from tests.events.sample_events import appends, applied, config_map_key

OpenStore = Callable[[], Awaitable[EventStore]]


@pytest.fixture(params=["memory", "jetstream"])
async def open_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[OpenStore]:
    """Opens producers on one log: the same object in memory, a new connection to one server on JetStream."""
    opened: list[EventStore] = []
    server: NatsServerProcess | None = None
    if request.param == "memory":
        memory = MemoryEventStore()

        async def open_memory() -> EventStore:
            return memory

        opener: OpenStore = open_memory
    else:
        server = NatsServerProcess(tmp_path_factory.mktemp("nats"))
        await server.start()
        url = server.url

        async def open_jetstream() -> EventStore:
            store = await JetStreamEventStore.connect(url)
            opened.append(store)
            return store

        opener = open_jetstream
    try:
        yield opener
    finally:
        for store in opened:
            await store.close()
        if server is not None:
            await server.stop()


@pytest.fixture
async def store(open_store: OpenStore) -> EventStore:
    return await open_store()


async def collect(records: AsyncIterator[LogRecord]) -> list[LogRecord]:
    async with aclosing(records) as iterator:
        return [record async for record in iterator]


async def test_append_then_read_returns_every_event_in_order(store: EventStore) -> None:
    batch = [*appends("a", "b", "c.with.dots"), Append(event=applied("a", data="changed"))]
    appended = await store.append(batch)

    assert [a.seq for a in appended] == [1, 2, 3, 4]
    assert [a.subject for a in appended] == [subject_for(item.event.key) for item in batch]
    records = await collect(store.read())
    assert [(r.seq, r.subject, r.data) for r in records] == [
        (a.seq, a.subject, encode_event(item.event)) for a, item in zip(appended, batch, strict=True)
    ]
    assert all(r.stored_at.tzinfo is not None for r in records)
    assert await store.last_seq() == 4


async def test_empty_log_reads_nothing(store: EventStore) -> None:
    assert await store.last_seq() == 0
    assert await collect(store.read()) == []
    assert await collect(store.read_latest_per_subject(subject_filter())) == []


async def test_read_from_sequence(store: EventStore) -> None:
    await store.append(appends(*"abcdef"))

    assert [r.seq for r in await collect(store.read(from_seq=4))] == [4, 5, 6]
    assert await collect(store.read(from_seq=7)) == []


async def test_read_from_time(store: EventStore) -> None:
    await store.append(appends("a", "b"))
    await asyncio.sleep(0.02)
    mark = datetime.now(UTC)
    await asyncio.sleep(0.02)
    await store.append(appends("c", "d"))

    records = await collect(store.read(from_time=mark))
    assert [r.seq for r in records] == [3, 4]
    assert all(r.stored_at >= mark for r in records)


async def test_read_stops_at_the_end_of_the_log_as_it_was(store: EventStore) -> None:
    await store.append(appends("a", "b", "c"))

    async with aclosing(store.read()) as records:
        first = await anext(records)
        await store.append(appends("d", "e"))
        rest = [record.seq async for record in records]

    assert [first.seq, *rest] == [1, 2, 3]


async def test_retried_identical_append_is_stored_once(store: EventStore) -> None:
    batch = appends("a", "b", "c")
    first = await store.append(batch)

    retried = await store.append(batch)

    assert [(a.seq, a.duplicate) for a in retried] == [(a.seq, True) for a in first]
    assert await store.last_seq() == 3


async def test_retry_with_a_new_event_stores_only_the_new_one(store: EventStore) -> None:
    old = appends("a", "b")
    await store.append(old)

    appended = await store.append([*old, *appends("c")])

    assert [(a.seq, a.duplicate) for a in appended] == [(1, True), (2, True), (3, False)]
    assert [r.subject for r in await collect(store.read())] == [a.subject for a in appended]


async def test_retried_write_with_expected_revision_is_a_duplicate_not_a_conflict(store: EventStore) -> None:
    write = Append(event=applied("a"), expected_revision=0)
    await store.append([write])

    [again] = await store.append([write])

    assert (again.seq, again.duplicate) == (1, True)


async def test_expected_revision_zero_means_the_resource_does_not_exist(store: EventStore) -> None:
    await store.append([Append(event=applied("a"), expected_revision=0)])

    with pytest.raises(ConflictError) as raised:
        await store.append([Append(event=applied("a", data="other"), expected_revision=0)])

    assert raised.value.subject == subject_for(config_map_key("a"))
    assert raised.value.expected_revision == 0


async def test_racing_producers_on_one_resource_exactly_one_wins(open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    [created] = await first.append([Append(event=applied("shared", data="v0"))])

    results = await asyncio.gather(
        first.append([Append(event=applied("shared", data="from-first"), expected_revision=created.seq)]),
        second.append([Append(event=applied("shared", data="from-second"), expected_revision=created.seq)]),
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, list)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert losers[0].expected_revision == created.seq
    assert await first.last_seq() == 2


async def test_a_stale_write_rejects_its_whole_batch(store: EventStore) -> None:
    [a] = await store.append(appends("a"))
    await store.append([Append(event=applied("a", data="newer"))])

    batch = [Append(event=applied("b")), Append(event=applied("a", data="stale"), expected_revision=a.seq)]
    with pytest.raises(ConflictError) as raised:
        await store.append(batch)

    assert raised.value.subject == subject_for(config_map_key("a"))
    assert await store.last_seq() == 2


async def test_batches_are_atomic_per_chunk(store: EventStore) -> None:
    await store.append(appends("taken"))
    names = [f"n{i}" for i in range(ATOMIC_BATCH_LIMIT + 10)]
    batch = [Append(event=applied(name)) for name in names]
    batch[ATOMIC_BATCH_LIMIT + 5] = Append(event=applied("taken", data="x"), expected_revision=0)

    with pytest.raises(ConflictError):
        await store.append(batch)

    assert await store.last_seq() == 1 + ATOMIC_BATCH_LIMIT


async def test_an_expectation_after_an_earlier_event_of_the_same_resource_is_refused(store: EventStore) -> None:
    batch = [Append(event=applied("a")), Append(event=applied("a", data="2"), expected_revision=0)]

    with pytest.raises(ValueError, match="first event of a resource"):
        await store.append(batch)

    assert await store.last_seq() == 0


async def test_read_latest_per_subject(store: EventStore) -> None:
    await store.append(appends("a", "b"))
    await store.append([Append(event=applied("a", data="2")), Append(event=applied("c", namespace="other"))])

    latest = await collect(store.read_latest_per_subject(subject_filter()))
    in_default = await collect(store.read_latest_per_subject(subject_filter("ConfigMap", "default")))

    assert [r.seq for r in latest] == [2, 3, 4]
    assert [r.seq for r in in_default] == [2, 3]


async def test_follow_delivers_the_tail_then_live_records(store: EventStore) -> None:
    await store.append(appends("a", "b", "c"))

    async def publish_later() -> None:
        for name in ("d", "e", "f"):
            await asyncio.sleep(0.01)
            await store.append(appends(name))

    publisher = asyncio.create_task(publish_later())
    async with aclosing(store.follow(after_seq=1)) as records:
        seen = []
        async for record in records:
            seen.append(record.seq)
            if len(seen) == 5:
                break
    await publisher

    assert seen == [2, 3, 4, 5, 6]


async def test_close_ends_a_follower(store: EventStore) -> None:
    await store.append(appends("a"))

    async def follow_all() -> list[int]:
        async with aclosing(store.follow(after_seq=0)) as records:
            return [record.seq async for record in records]

    follower = asyncio.create_task(follow_all())
    await asyncio.sleep(0.1)
    await store.close()

    assert await asyncio.wait_for(follower, 5) == [1]


async def test_from_time_must_be_timezone_aware(store: EventStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await collect(store.read(from_time=datetime(2025, 1, 1)))


async def test_a_retried_batch_with_expected_revisions_is_all_duplicates(store: EventStore) -> None:
    batch = [Append(event=applied(name), expected_revision=0) for name in ("a", "b", "c")]
    first = await store.append(batch)

    retried = await store.append(batch)

    assert [(a.seq, a.duplicate) for a in retried] == [(a.seq, True) for a in first]
    assert await store.last_seq() == 3
