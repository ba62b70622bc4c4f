"""`egd serve`: wires the stages together and runs them until SIGINT/SIGTERM.

embedded nats-server (unless --nats-url) → event store → follower (fold + translate)
    → xDS publisher → bus → ADS server → Envoys
admin HTTP reads the pipeline, the bus and the ADS server's streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from datetime import timedelta
from pathlib import Path

import grpc
import msgspec
import structlog
from aiohttp import web

from egd.admin import AdminViews, build_admin_app
from egd.audit.deliveries import DEFAULT_RETENTION, DeliveryRecorder
from egd.bus import LatestValues
from egd.datadir import DataDir
from egd.follower import Follower
from egd.metrics import Metrics
from egd.natsserver import NatsServerProcess
from egd.sequence_watch import SequenceWatch
from egd.xds.hooks import compose_hooks
from egd.xds.publisher import XdsPublisher
from egd.xds.servicer import AggregatedDiscoveryServicer, start_xds_server
from egd.xds.telemetry import metered_hooks
from events.jetstream import JetStreamEventStore
from projections.pipeline import Pipeline
from projections.xds.resources import ResourceSet

log = structlog.get_logger("egd.daemon")


class ServeOptions(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path
    nats_url: str | None = None
    xds_address: tuple[str, int] = ("127.0.0.1", 18000)
    admin_address: tuple[str, int] = ("127.0.0.1", 19000)
    redis_url: str | None = None
    delivery_retention: timedelta | None = DEFAULT_RETENTION
    """How long the delivery audit keeps records; None: no delivery audit."""


async def serve(options: ServeOptions) -> None:
    data_dir = DataDir(options.data_dir)
    lock_fd = data_dir.lock()
    embedded: NatsServerProcess | None = None
    runner: web.AppRunner | None = None
    xds_server: grpc.aio.Server | None = None
    store: JetStreamEventStore | None = None
    recorder: DeliveryRecorder | None = None
    try:
        nats_url = options.nats_url
        if nats_url is None:
            embedded = NatsServerProcess(data_dir.nats_store)
            await embedded.start()
            nats_url = embedded.url
            log.info("embedded nats-server started", url=nats_url, store_dir=str(data_dir.nats_store))
        store = await JetStreamEventStore.connect(nats_url)

        metrics = Metrics()
        pipeline = Pipeline()
        watch = SequenceWatch()
        bus: LatestValues[str, ResourceSet] = LatestValues()
        publisher = XdsPublisher(bus, metrics)
        follower = Follower(store, pipeline, metrics, watch, on_translated=publisher.mark)
        hooks = metered_hooks(metrics)
        if options.delivery_retention is not None:
            recorder = DeliveryRecorder(
                nats_url, retention=options.delivery_retention, reflects=publisher.published_seq.get
            )
            await recorder.start()
            hooks = compose_hooks(hooks, recorder.hooks())
        servicer = AggregatedDiscoveryServicer(bus, hooks=hooks)
        xds_host, xds_port = options.xds_address
        xds_server, _ = await start_xds_server(servicer, f"{xds_host}:{xds_port}")

        views = AdminViews(
            pipeline=pipeline,
            watch=watch,
            metrics=metrics,
            xds=publisher.fleet,
            streams=servicer.streams,
            is_ready=lambda: follower.caught_up.is_set() and not publisher.pending(),
        )
        runner = web.AppRunner(build_admin_app(views), access_log=None)
        await runner.setup()
        admin_host, admin_port = options.admin_address
        await web.TCPSite(runner, admin_host, admin_port).start()
        admin_url = f"http://{admin_host}:{admin_port}"
        data_dir.record(nats_url=nats_url, admin_url=admin_url)
        log.info(
            "egd serving",
            nats_url=nats_url,
            admin_url=admin_url,
            xds_address=f"{xds_host}:{xds_port}",
            data_dir=str(data_dir.path),
        )

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        tasks = {
            asyncio.create_task(follower.run(), name="follower"),
            asyncio.create_task(publisher.run(pipeline), name="xds-publisher"),
            asyncio.create_task(stop.wait(), name="stop"),
        }
        if recorder is not None:
            tasks.add(asyncio.create_task(recorder.run(), name="delivery-audit"))
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in done:
            task.result()  # a stage that failed takes the daemon down with its error
        log.info("egd stopping")
    finally:
        data_dir.forget()
        if xds_server is not None:
            await xds_server.stop(grace=1.0)
        if recorder is not None:
            await recorder.close()
        if runner is not None:
            await runner.cleanup()
        if store is not None:
            await store.close()
        if embedded is not None:
            await embedded.stop()
        os.close(lock_fd)
