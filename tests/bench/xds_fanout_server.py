"""The xDS server alone in its own process, for the fan-out benchmark: its memory is measured apart.

Prints `port <n>`, then reads commands on stdin: `publish <i>` answered `published`, and `rss` answered
`rss <bytes>`. By default the node group has 20 clusters and `publish <i>` changes cluster `c0` to version i;
with `EGD_BENCH_FANOUT_VIRTUAL_HOSTS=N` it is a Gateway of N virtual hosts (one route each, served over VHDS)
and `publish <i>` changes one route, so one VirtualHost. As egd's publisher does, each set published is
recorded in a `ResourceHistory` with what changed, which the servicer's delta streams read.
"""

from __future__ import annotations

import asyncio
import os
import sys

from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf import duration_pb2

from egd.bus import LatestValues
from egd.xds import AggregatedDiscoveryServicer, start_xds_server
from projections.xds.history import ResourceHistory
from projections.xds.resources import CLUSTER, ResourceSet, TypeDiff, diff, versioned, with_changes
from projections.xds.translate import XdsTranslator
from tests.bench.test_xds_translate_bench import gateway_ir, one_route_changed

GROUP = "bench/gw"
CLUSTERS = 20
VIRTUAL_HOSTS = int(os.environ.get("EGD_BENCH_FANOUT_VIRTUAL_HOSTS", "0"))


def static_cluster(name: str, version: int) -> cluster_pb2.Cluster:
    return cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration_pb2.Duration(seconds=1 + version),
    )


class Clusters:
    """The default layout: `CLUSTERS` static clusters; round i changes cluster `c0` to version i."""

    def __init__(self) -> None:
        self.resources = with_changes(
            ResourceSet(), [(CLUSTER, versioned(static_cluster(f"c{i}", 0))) for i in range(CLUSTERS)]
        )

    def change(self, round_number: int) -> tuple[ResourceSet, dict[str, TypeDiff]]:
        self.resources = with_changes(self.resources, [(CLUSTER, versioned(static_cluster("c0", round_number)))])
        return self.resources, {CLUSTER: TypeDiff(updated=("c0",), removed=())}


class VirtualHosts:
    """A Gateway of `VIRTUAL_HOSTS` virtual hosts, one route each; round i changes one route (one VirtualHost)."""

    def __init__(self) -> None:
        self.translator = XdsTranslator()
        self.gateway = gateway_ir(VIRTUAL_HOSTS, 1)
        self.resources = self.translator.apply(self.gateway).resources

    def change(self, round_number: int) -> tuple[ResourceSet, dict[str, TypeDiff]]:
        self.gateway = one_route_changed(self.gateway, round_number, 1)
        update = self.translator.apply(self.gateway)
        self.resources = update.resources
        return self.resources, update.delta_changes


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def main() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    bus: LatestValues[str, ResourceSet] = LatestValues()
    history = ResourceHistory()
    servicer = AggregatedDiscoveryServicer(bus, history=history)
    server, port = await start_xds_server(servicer, "127.0.0.1:0")
    layout = VirtualHosts() if VIRTUAL_HOSTS else Clusters()
    history.record(GROUP, layout.resources, diff(ResourceSet(), layout.resources.delta_view()))
    bus.publish(GROUP, layout.resources)
    print(f"port {port}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        if line[0] == "publish":
            resources, changes = layout.change(int(line[1]))
            history.record(GROUP, resources, changes)
            bus.publish(GROUP, resources)
            print("published", flush=True)
        elif line[0] == "rss":
            print(f"rss {rss()} streams {len(servicer.streams)}", flush=True)
    await server.stop(grace=None)


if __name__ == "__main__":
    asyncio.run(main())
