"""A 3-node NATS cluster on loopback: three nats-servers with JetStream, routes between them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats

from egd.natsserver import NatsServerProcess, pick_free_port
from events.jetstream import DEFAULT_STREAM


class NatsCluster:
    def __init__(self, directory: Path, size: int = 3) -> None:
        cluster_ports = [pick_free_port() for _ in range(size)]
        routes = ",".join(f"nats://127.0.0.1:{port}" for port in cluster_ports)
        self.nodes = [
            NatsServerProcess(
                directory / f"n{i}",
                server_name=f"n{i}",
                extra_args=["--cluster_name", "egd", "--cluster", f"nats://127.0.0.1:{port}", "--routes", routes],
            )
            for i, port in enumerate(cluster_ports)
        ]

    @property
    def url(self) -> str:
        """Every node, as `--nats-url` takes them."""
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> NatsServerProcess:
        (found,) = [node for node in self.nodes if node.server_name == name]
        return found

    async def start(self) -> None:
        await asyncio.gather(*(node.start() for node in self.nodes))

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in self.nodes))

    async def stream_leader(self, stream: str = DEFAULT_STREAM) -> str:
        """The name of the node that leads `stream` now (which must be replicated on every node)."""
        nc = await nats.connect([node.url for node in self.nodes if node.running])
        try:
            info = await nc.jsm().stream_info(stream)
        finally:
            await nc.close()
        assert info.cluster is not None and info.cluster.leader is not None, info
        assert info.config.num_replicas == len(self.nodes), info.config
        return info.cluster.leader
