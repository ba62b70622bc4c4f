"""The xDS server alone in its own process, for the fan-out benchmark: its memory is measured apart.

Prints `port <n>`, then reads commands on stdin: `publish <i>` (cluster `c0` changes to version i)
answered `published`, and `rss` answered `rss <bytes>`.
"""

from __future__ import annotations

import asyncio
import sys

from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf import duration_pb2

from egd.bus import LatestValues
from egd.xds import AggregatedDiscoveryServicer, start_xds_server
from projections.xds.resources import CLUSTER, ResourceSet, versioned, with_changes

GROUP = "bench/gw"
CLUSTERS = 20


def static_cluster(name: str, version: int) -> cluster_pb2.Cluster:
    return cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration_pb2.Duration(seconds=1 + version),
    )


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
    servicer = AggregatedDiscoveryServicer(bus)
    server, port = await start_xds_server(servicer, "127.0.0.1:0")
    resources = with_changes(ResourceSet(), [(CLUSTER, versioned(static_cluster(f"c{i}", 0))) for i in range(CLUSTERS)])
    bus.publish(GROUP, resources)
    print(f"port {port}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        if line[0] == "publish":
            resources = with_changes(resources, [(CLUSTER, versioned(static_cluster("c0", int(line[1]))))])
            bus.publish(GROUP, resources)
            print("published", flush=True)
        elif line[0] == "rss":
            print(f"rss {rss()} streams {len(servicer.streams)}", flush=True)
    await server.stop(grace=None)


if __name__ == "__main__":
    asyncio.run(main())
