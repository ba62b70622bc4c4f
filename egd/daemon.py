"""`egd serve`: wires the stages together and runs them until SIGINT/SIGTERM.

embedded nats-server (unless --nats-url) → event store → follower (fold + translate)
    → xDS publisher → bus → ADS server → Envoys
    → rate-limit runner → egd's rate-limit service, and bus → ADS server → envoyproxy/ratelimit
admin HTTP reads the pipeline, the bus and the ADS server's streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import grpc
import msgspec
import structlog
from aiohttp import web

from egd.admin import AdminViews, build_admin_app
from egd.audit.deliveries import DEFAULT_RETENTION, DeliveryRecorder
from egd.bus import LatestValues
from egd.changed_gateways import ChangedGateways
from egd.client import open_store, use_nats_auth
from egd.datadir import DataDir
from egd.follower import Follower
from egd.lag import LagWatch
from egd.listen import CannotListenError
from egd.metrics import Metrics
from egd.natsserver import NatsServerProcess
from egd.ratelimit.runner import RateLimitRunner
from egd.sequence_watch import SequenceWatch
from egd.snapshotter import SnapshotPolicy, Snapshotter, load_newest_valid
from egd.tls import ServerTls
from egd.xds.hooks import compose_hooks
from egd.xds.publisher import XdsPublisher
from egd.xds.servicer import AggregatedDiscoveryServicer, start_xds_server
from egd.xds.telemetry import metered_hooks
from events.jetstream import JetStreamEventStore
from events.jetstream.auth import NO_AUTH, NatsAuth
from events.jetstream.snapshots import JetStreamSnapshots
from projections.gatewayapi.options import TranslateOptions
from projections.gatewayapi.translator import Changes
from projections.pipeline import Pipeline
from projections.xds.bootstrap import XdsClientTls
from projections.xds.resources import ResourceSet
from projections.xds.translate.ratelimits import XdsSettings

log = structlog.get_logger("egd.daemon")


class ServeOptions(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path
    nats_url: str | None = None
    xds_address: tuple[str, int] = ("127.0.0.1", 18000)
    admin_address: tuple[str, int] = ("127.0.0.1", 19000)
    redis_url: str | None = None
    stream_replicas: int = 1
    max_ready_lag: int = 1000
    nats_auth: NatsAuth = NO_AUTH
    xds_tls: ServerTls | None = None
    snapshots: SnapshotPolicy = SnapshotPolicy()
    ratelimit_address: tuple[str, int] = ("127.0.0.1", 18081)
    ratelimit_tls: ServerTls | None = None
    ratelimit_envoy_tls: XdsClientTls | None = None
    """How Envoys reach a rate-limit service that serves TLS (files on their hosts), put into their xDS."""
    redis_key_prefix: str = ""
    translate: TranslateOptions = TranslateOptions()
    delivery_retention: timedelta | None = DEFAULT_RETENTION
    """How long the delivery audit keeps records; None: no delivery audit."""


# The daemon keeps hundreds of thousands of long-lived objects (documents, IR, resources): with CPython's
# default thresholds the cyclic collector rescans them all the time, costing ~40% of a translation.
GC_THRESHOLDS = (50_000, 20, 100)


async def collect_after_start_up(follower: Follower, stages: Sequence[ChangedGateways]) -> None:
    """Turn the cyclic collector (off from the start of `serve`) on once start-up's work is done: the state
    loaded and caught up, translated, and built by every stage; what is alive then is frozen first
    (`gc.freeze`: no collection scans it again). Start-up makes the daemon's long-lived objects and little
    garbage: a collector running meanwhile would scan those objects twice or more as they pile up, about a
    quarter of the CPU time of a restart, and they would weigh on every full collection afterwards."""
    await follower.caught_up.wait()
    for changed in stages:
        await changed.drained()
    gc.freeze()
    gc.enable()


async def settle_once_translated(
    follower: Follower, stages: Sequence[ChangedGateways], bus: LatestValues[str, ResourceSet]
) -> None:
    """Once the whole state is translated (at start-up; if that failed, when a translation next works) and
    built by every stage, a node group never published is known to have nothing (`LatestValues.settle`): its
    Envoys, held until then, are answered, and one that still holds the configuration of a Gateway deleted
    while egd was away is told to remove it. Before that, an Envoy is never told it has nothing: a failed
    translation must not wipe the fleet."""
    await follower.translated.wait()
    for changed in stages:
        await changed.drained()
    bus.settle(ResourceSet())


# On SIGTERM, how long streams already open may go on before they are closed (Envoys then reconnect to
# another replica listed in their bootstrap). xDS streams never end by themselves, so this is short.
DRAIN_GRACE_SECONDS = 0.5


async def serve(options: ServeOptions) -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    gc.disable()  # until start-up has built what the daemon keeps (`collect_after_start_up`)
    data_dir = DataDir(options.data_dir)
    lock_fd = data_dir.lock()
    embedded: NatsServerProcess | None = None
    runner: web.AppRunner | None = None
    xds_server: grpc.aio.Server | None = None
    store: JetStreamEventStore | None = None
    ratelimit: RateLimitRunner | None = None
    recorder: DeliveryRecorder | None = None
    try:
        use_nats_auth(options.nats_auth)  # for every connection of the daemon (the delivery recorder too)
        nats_url = options.nats_url
        if nats_url is None:
            own_ports = [port for _, port in (options.xds_address, options.admin_address, options.ratelimit_address)]
            embedded = NatsServerProcess(data_dir.nats_store, avoid_ports=own_ports)
            await embedded.start()
            nats_url = embedded.url
            log.info("embedded nats-server started", url=nats_url, store_dir=str(data_dir.nats_store))
        store = await open_store(nats_url, auth=options.nats_auth, manage_stream=True, replicas=options.stream_replicas)

        metrics = Metrics()
        store.connection.reconnect_listeners.add(metrics.nats_reconnects.inc)
        snapshots = await JetStreamSnapshots.open(store, replicas=options.stream_replicas)
        loaded = await load_newest_valid(snapshots, await store.last_seq()) if options.snapshots.enabled else None
        pipeline = Pipeline(loaded, options.translate)
        snapshotter = Snapshotter(snapshots, pipeline.state, options.snapshots, metrics)
        watch = SequenceWatch()
        bus: LatestValues[str, ResourceSet] = LatestValues()
        rl_host, rl_port = options.ratelimit_address
        settings = XdsSettings(
            ratelimit_host=rl_host, ratelimit_port=rl_port, ratelimit_tls=options.ratelimit_envoy_tls
        )
        publisher = XdsPublisher(bus, metrics, settings)
        ratelimit = RateLimitRunner(bus, metrics, redis_url=options.redis_url, key_prefix=options.redis_key_prefix)
        await ratelimit.start_server(f"{rl_host}:{rl_port}", tls=options.ratelimit_tls)

        def translated(changes: Changes) -> None:
            publisher.mark(changes)
            ratelimit.mark(changes)

        follower = Follower(store, pipeline, metrics, watch, on_translated=translated)
        lag = LagWatch(store, pipeline.state, metrics, max_lag=options.max_ready_lag)
        hooks = metered_hooks(metrics, known_gateway=bus.has)
        if options.delivery_retention is not None:
            recorder = DeliveryRecorder(
                nats_url, retention=options.delivery_retention, reflects=publisher.published_seq.get
            )
            await recorder.start()
            hooks = compose_hooks(hooks, recorder.hooks())
        servicer = AggregatedDiscoveryServicer(bus, hooks=hooks, history=publisher.history)
        xds_host, xds_port = options.xds_address
        metrics.xds_streams_writing.set_function(
            lambda: sum(1 for stream in servicer.streams.values() if stream.writing_since is not None)
        )
        xds_server, _ = await start_xds_server(servicer, f"{xds_host}:{xds_port}", tls=options.xds_tls)

        views = AdminViews(
            pipeline=pipeline,
            watch=watch,
            metrics=metrics,
            xds=publisher.fleet,
            streams=servicer.streams,
            is_ready=lambda: (
                follower.caught_up.is_set()
                and not follower.pending()
                and not publisher.pending()
                and not ratelimit.pending()
                and lag.within_bounds()
            ),
            xds_pending=lambda: follower.pending() or publisher.pending(),
        )
        runner = web.AppRunner(build_admin_app(views), access_log=None)
        await runner.setup()
        admin_host, admin_port = options.admin_address
        try:
            await web.TCPSite(runner, admin_host, admin_port).start()
        except OSError as exc:
            raise CannotListenError(
                f"cannot listen for the admin API on {admin_host}:{admin_port}: {exc.strerror}"
            ) from exc
        admin_url = f"http://{admin_host}:{admin_port}"
        data_dir.record(nats_url=nats_url, admin_url=admin_url)
        log.info(
            "egd serving",
            nats_url=nats_url,
            admin_url=admin_url,
            xds_address=f"{xds_host}:{xds_port}",
            ratelimit_address=f"{rl_host}:{rl_port}",
            data_dir=str(data_dir.path),
        )

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        tasks = {
            asyncio.create_task(follower.run(), name="follower"),
            asyncio.create_task(follower.translate_batches(), name="translator"),
            asyncio.create_task(publisher.run(pipeline), name="xds-publisher"),
            asyncio.create_task(lag.run(), name="lag-watch"),
            asyncio.create_task(ratelimit.run(pipeline), name="ratelimit"),
            asyncio.create_task(stop.wait(), name="stop"),
        }
        if options.snapshots.enabled:
            tasks.add(asyncio.create_task(snapshotter.run(follower.caught_up), name="snapshotter"))
        if recorder is not None:
            tasks.add(asyncio.create_task(recorder.run(), name="delivery-audit"))
        stages = [publisher.changed, ratelimit.changed]
        after_start_up = {
            asyncio.create_task(collect_after_start_up(follower, stages), name="collector"),
            asyncio.create_task(settle_once_translated(follower, stages, bus), name="settle"),
        }
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for waiting in after_start_up:
            waiting.cancel()
        log.info("egd draining: no new xDS streams; connected Envoys are let go to reconnect elsewhere")
        await xds_server.stop(grace=DRAIN_GRACE_SECONDS)
        xds_server = None
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in done:
            task.result()  # a stage that failed takes the daemon down with its error
        if follower.caught_up.is_set():
            await snapshotter.save()
        log.info("egd stopping")
    finally:
        data_dir.forget()
        if xds_server is not None:
            await xds_server.stop(grace=None)
        if ratelimit is not None:
            await ratelimit.stop()
        if recorder is not None:
            await recorder.close()
        if runner is not None:
            await runner.cleanup()
        if store is not None:
            await store.close()
        if embedded is not None:
            await embedded.stop()
        os.close(lock_fd)
