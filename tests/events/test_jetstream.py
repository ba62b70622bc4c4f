"""What only the JetStream store has: the stream's configuration, a real server that restarts, no server."""

from __future__ import annotations

import asyncio
import threading
from contextlib import aclosing

import nats
import nats.js.errors
import pytest
from nats.js.api import StorageType, StreamConfig

from egd.natsserver import NatsServerProcess, pick_free_port
from events.codec import encode_event
from events.errors import EventTooLargeError, StoreUnavailableError
from events.jetstream import DEFAULT_STREAM, DUPLICATE_WINDOW_SECONDS, JetStreamEventStore
from events.keys import ALL_RESOURCES_SUBJECT
from events.store import Append
from tests.events.sample_events import appends, applied
from tests.events.threaded_append import append_config_maps


async def test_the_stream_keeps_everything_and_refuses_deletes_and_purges(
    nats_server: NatsServerProcess, jetstream_store: JetStreamEventStore
) -> None:
    await jetstream_store.append(appends("a", "b"))
    nc = await nats.connect(nats_server.url)
    try:
        jsm = nc.jsm()
        info = await jsm.stream_info(DEFAULT_STREAM)
        with pytest.raises(nats.js.errors.APIError):
            await jsm.delete_msg(DEFAULT_STREAM, 1)
        with pytest.raises(nats.js.errors.APIError):
            await jsm.purge_stream(DEFAULT_STREAM)
        after = await jsm.stream_info(DEFAULT_STREAM)
    finally:
        await nc.close()

    config = info.config
    assert config.subjects == [ALL_RESOURCES_SUBJECT]
    assert config.storage == StorageType.FILE
    assert (config.max_age or 0, config.max_msgs, config.max_msgs_per_subject) == (0, -1, -1)
    assert (config.deny_delete, config.deny_purge, config.allow_direct, config.allow_atomic) == (True,) * 4
    assert config.duplicate_window == DUPLICATE_WINDOW_SECONDS
    assert (after.state.messages, after.state.first_seq, after.state.last_seq) == (2, 1, 2)


async def test_connect_brings_an_existing_stream_to_the_configuration(nats_server: NatsServerProcess) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        await nc.jsm().add_stream(StreamConfig(name=DEFAULT_STREAM, subjects=[ALL_RESOURCES_SUBJECT]))
        store = await JetStreamEventStore.connect(nats_server.url)
        await store.close()
        config = (await nc.jsm().stream_info(DEFAULT_STREAM)).config
    finally:
        await nc.close()

    assert (config.deny_delete, config.deny_purge, config.allow_atomic) == (True, True, True)
    assert config.duplicate_window == DUPLICATE_WINDOW_SECONDS


async def test_a_producer_uses_an_existing_stream_as_it_is(nats_server: NatsServerProcess) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        await nc.jsm().add_stream(StreamConfig(name=DEFAULT_STREAM, subjects=[ALL_RESOURCES_SUBJECT]))
        store = await JetStreamEventStore.connect(nats_server.url, manage_stream=False)
        await store.append(appends("a"))
        await store.close()
        config = (await nc.jsm().stream_info(DEFAULT_STREAM)).config
    finally:
        await nc.close()

    assert (config.deny_delete, config.deny_purge, bool(config.allow_atomic)) == (False, False, False)


async def test_connect_to_nothing_raises_store_unavailable() -> None:
    url = f"nats://127.0.0.1:{pick_free_port()}"

    with pytest.raises(StoreUnavailableError, match="cannot reach NATS"):
        await JetStreamEventStore.connect(url, connect_timeout=1)


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
async def test_follow_neither_skips_nor_repeats_across_a_server_restart(
    nats_server: NatsServerProcess, crash: bool
) -> None:
    producer = await JetStreamEventStore.connect(nats_server.url)
    consumer = await JetStreamEventStore.connect(nats_server.url)
    total = 300
    batch = [Append(event=applied(f"r{i % 7}", data=str(i))) for i in range(total)]
    await producer.append(batch[:100])

    async def publish_and_restart() -> None:
        for i in range(100, total):
            await producer.append([batch[i]])
            if i == 150 and crash:
                await nats_server.kill()
                await nats_server.start()
            elif i == 150:
                await nats_server.restart()
            await asyncio.sleep(0.002)

    publisher = asyncio.create_task(publish_and_restart())
    seen = []
    try:
        async with aclosing(consumer.follow(after_seq=0)) as records:
            async with asyncio.timeout(60):
                async for record in records:
                    seen.append(record)
                    if len(seen) == total:
                        break
        await publisher
    finally:
        publisher.cancel()
        await producer.close()
        await consumer.close()

    assert [r.seq for r in seen] == list(range(1, total + 1))
    assert [r.data for r in seen] == [encode_event(item.event) for item in batch]


async def test_writes_give_up_with_store_unavailable_when_the_server_stays_away(
    nats_server: NatsServerProcess,
) -> None:
    store = await JetStreamEventStore.connect(nats_server.url, request_timeout=0.3, give_up_after=1.0)
    try:
        await nats_server.stop()

        with pytest.raises(StoreUnavailableError, match="did not acknowledge"):
            await store.append(appends("a"))
        with pytest.raises(StoreUnavailableError):
            await store.last_seq()
    finally:
        await store.close()


async def test_following_ends_when_cancelled_as_records_arrive(
    nats_server: NatsServerProcess, jetstream_store: JetStreamEventStore
) -> None:
    """A cancellation that meets the arrival of records ends the reader (asyncio.wait_for in Python 3.11
    swallows a cancellation when what it waits for completes in the same turn of the loop: the reader went on,
    and whoever awaited it after cancelling, such as the daemon's shutdown, hung)."""
    arrivals = threading.Thread(
        target=append_config_maps,
        args=(nats_server.url, [f"cm-{i}" for i in range(400)]),
        kwargs={"every_seconds": 0.002},
    )
    arrivals.start()
    try:
        for round_ in range(40):
            after = await jetstream_store.last_seq()

            async def read(after: int = after) -> None:
                async for _ in jetstream_store.follow(after_seq=after):
                    pass

            reader = asyncio.create_task(read())
            await asyncio.sleep(0.003 + (round_ % 7) * 0.001)
            reader.cancel()
            done, _ = await asyncio.wait({reader}, timeout=5)
            assert reader in done and reader.cancelled(), f"round {round_}: the reader went on after its cancellation"
    finally:
        await asyncio.to_thread(arrivals.join)


async def test_a_batch_with_an_event_too_big_for_one_message_is_refused_before_anything_is_written(
    jetstream_store: JetStreamEventStore,
) -> None:
    huge = Append(event=applied("huge", data="x" * 1_100_000))
    with pytest.raises(EventTooLargeError, match="ConfigMap default/huge"):
        await jetstream_store.append([*appends("small-1", "small-2"), huge])
    assert await jetstream_store.last_seq() == 0
