"""The follower hands a burst's translated changes to the stages once the burst is over, or every
`max_hold_seconds` while it goes on; a lone change goes at once. Real nats-server; a translation is made
long by blocking the event loop while another thread appends to the log, as a burst arriving during a real
translation would."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from structlog.testing import capture_logs

from egd.follower import Follower
from egd.metrics import Metrics
from egd.natsserver import NatsServerProcess
from egd.sequence_watch import SequenceWatch
from events.jetstream import JetStreamEventStore
from events.keys import ResourceKey
from events.schema import ResourceApplied, ResourceDeleted
from events.store import Append
from projections.gatewayapi.translator import Changes
from projections.pipeline import Pipeline
from projections.state import StateChange
from tests.egd.serving import eventually
from tests.events.sample_events import appends, config_map_key, deleted
from tests.events.threaded_append import append_config_maps, append_while_blocked
from tests.projections.test_state import T0


class SlowPipeline(Pipeline):
    """A pipeline whose translations call `during_translation` first (blocking the event loop, as a long
    translation does) and count themselves."""

    def __init__(self, during_translation: Callable[[int], None]) -> None:
        super().__init__()
        self.during_translation = during_translation
        self.translations = 0

    def translate_changes(self, changes: Sequence[StateChange]) -> Changes:
        self.translations += 1
        self.during_translation(self.translations)
        return super().translate_changes(changes)


class Handed:
    """What reached `on_translated`: per call, how many translations had run by then."""

    def __init__(self, pipeline: SlowPipeline) -> None:
        self.pipeline = pipeline
        self.translations_seen: list[int] = []

    def __call__(self, changes: Changes) -> None:
        self.translations_seen.append(self.pipeline.translations)

    async def any(self) -> bool:
        return bool(self.translations_seen)


@asynccontextmanager
async def following(
    store: JetStreamEventStore, pipeline: SlowPipeline, *, max_hold_seconds: float = 10.0
) -> AsyncIterator[tuple[Follower, Handed]]:
    handed = Handed(pipeline)
    follower = Follower(store, pipeline, Metrics(), SequenceWatch(), handed, max_hold_seconds=max_hold_seconds)
    async with running(follower):
        handed.translations_seen.clear()  # the start-up translation
        yield follower, handed


@asynccontextmanager
async def running(follower: Follower) -> AsyncIterator[None]:
    """`follower` folding and translating, once it has caught up; stopped on leaving."""
    tasks = [asyncio.create_task(follower.run()), asyncio.create_task(follower.translate_batches())]
    try:
        await asyncio.wait_for(follower.caught_up.wait(), timeout=10)
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_lone_change_is_handed_on_at_once(
    jetstream_store: JetStreamEventStore, nats_server: NatsServerProcess
) -> None:
    pipeline = SlowPipeline(lambda _: None)
    async with following(jetstream_store, pipeline) as (follower, handed):
        await jetstream_store.append(appends("lone"))
        await eventually(handed.any, what="changes handed on")
        assert handed.translations_seen == [1]
        assert not follower.pending()


async def test_records_arriving_during_a_translation_are_handed_on_with_it(
    jetstream_store: JetStreamEventStore, nats_server: NatsServerProcess
) -> None:
    def first_translation_meets_a_burst(translation: int) -> None:
        if translation == 1:  # the loop is blocked: the burst's records wait in the socket
            append_while_blocked(nats_server.url, ["second", "third"])

    pipeline = SlowPipeline(first_translation_meets_a_burst)
    async with following(jetstream_store, pipeline) as (follower, handed):
        await jetstream_store.append(appends("first"))
        await eventually(handed.any, what="changes handed on")
        # Every batch was translated before the stages got any: one build, one push per Gateway.
        assert pipeline.translations >= 2
        assert handed.translations_seen == [pipeline.translations] * pipeline.translations
        assert set(pipeline.state.objects) >= {r.event.key for r in appends("first", "second", "third")}
        assert not follower.pending()


async def test_a_burst_that_goes_on_is_handed_on_every_max_hold(
    jetstream_store: JetStreamEventStore, nats_server: NatsServerProcess
) -> None:
    """Records keep arriving during every translation: the stages still get what is translated, at least every
    `max_hold_seconds`, while the burst goes on."""
    burst = threading.Thread(
        target=append_config_maps,
        args=(nats_server.url, [f"cm-{i}" for i in range(150)]),
        kwargs={"every_seconds": 0.01},
    )
    pipeline = SlowPipeline(lambda _: time.sleep(0.03))
    async with following(jetstream_store, pipeline, max_hold_seconds=0.2) as (_, handed):
        burst.start()
        try:

            async def handed_on_twice_or_burst_over() -> bool:
                return len(set(handed.translations_seen)) >= 2 or not burst.is_alive()

            await eventually(handed_on_twice_or_burst_over, what="two hand-overs, or the end of the burst")
            assert burst.is_alive(), "the stages got nothing while the burst went on"
            assert len(handed.translations_seen) > len(set(handed.translations_seen)), "nothing was held"
        finally:
            await asyncio.to_thread(burst.join)


GATEWAY = ResourceKey(group="gateway.networking.k8s.io", kind="Gateway", namespace="default", name="gw")


def gateway_events() -> list[ResourceApplied]:
    """A GatewayClass and a Gateway: a Gateway IR to build."""
    group = "gateway.networking.k8s.io"
    gateway_class = {
        "apiVersion": f"{group}/v1",
        "kind": "GatewayClass",
        "metadata": {"name": "eg"},
        "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
    }
    gateway = {
        "apiVersion": f"{group}/v1",
        "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "default"},
        "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "protocol": "HTTP", "port": 8080}]},
    }
    class_key = ResourceKey(group=group, kind="GatewayClass", namespace="", name="eg")
    return [
        ResourceApplied(key=class_key, object=gateway_class, actor="t", occurred_at=T0),
        ResourceApplied(key=GATEWAY, object=gateway, actor="t", occurred_at=T0),
    ]


class PoisonedPipeline(Pipeline):
    """A pipeline whose translation raises while the state holds the ConfigMap `poison` (as a defect would on
    some input)."""

    def translate_changes(self, changes: Sequence[StateChange]) -> Changes:
        self._check()
        return super().translate_changes(changes)

    def translate_all(self) -> Changes:
        self._check()
        return super().translate_all()

    def _check(self) -> None:
        if config_map_key("poison") in self.state.objects:
            raise RuntimeError("a defect")


async def test_a_translation_that_raises_stops_nothing_and_the_next_one_translates_everything(
    jetstream_store: JetStreamEventStore, nats_server: NatsServerProcess
) -> None:
    """The daemon goes on: the log is still folded and read, and once the object that broke translation is
    gone, the whole state is translated again and handed on, with what went meanwhile (a Gateway) removed."""
    await jetstream_store.append([Append(event=e) for e in gateway_events()])
    pipeline = PoisonedPipeline()
    handed: list[Changes] = []
    metrics = Metrics()
    watch = SequenceWatch()
    follower = Follower(jetstream_store, pipeline, metrics, watch, handed.append)
    async with running(follower):
        assert handed[0].gateways == ("default/gw",)
        assert follower.translated.is_set()
        with capture_logs() as logs:
            await jetstream_store.append(appends("poison"))
            assert await watch.wait_for(3, within=10)
            await jetstream_store.append(appends("other"))
            assert await watch.wait_for(4, within=10)  # folded, and read-your-writes still answers
            await jetstream_store.append([Append(event=ResourceDeleted(key=GATEWAY, actor="t", occurred_at=T0))])
            assert await watch.wait_for(5, within=10)
        assert len([e for e in logs if e["log_level"] == "error"]) == 3
        assert metrics.registry.get_sample_value("egd_translation_failures_total") == 3
        assert len(handed) == 1  # nothing translated reached the stages

        await jetstream_store.append([Append(event=deleted("poison"))])

        async def translated_again() -> bool:
            return pipeline.translated_seq == 6 and len(handed) == 2

        await eventually(translated_again, what="the whole state translated again and handed on")
        assert handed[1].gateways_removed == ("default/gw",)  # deleted while translation failed
        assert pipeline.translator.inputs.get(config_map_key("other")) is not None  # translated from scratch


async def test_a_translation_that_raises_at_start_up_does_not_stop_it(
    jetstream_store: JetStreamEventStore, nats_server: NatsServerProcess
) -> None:
    """It starts, but does not claim the state translated (`Follower.translated`: the Envoys of Gateways it has
    not translated must not be told they have nothing) until a translation works."""
    await jetstream_store.append(appends("poison"))
    metrics = Metrics()
    handed: list[Changes] = []
    follower = Follower(jetstream_store, PoisonedPipeline(), metrics, SequenceWatch(), handed.append)
    async with running(follower):  # it started
        assert metrics.registry.get_sample_value("egd_translation_failures_total") == 1
        assert not follower.translated.is_set()
        await jetstream_store.append([Append(event=deleted("poison"))])
        await asyncio.wait_for(follower.translated.wait(), timeout=10)
        assert len(handed) == 2  # start-up's nothing, then the whole state
