"""The xDS server: Aggregated Discovery Service (delta and state-of-the-world) over grpcio asyncio.

The lead wires it like this::

    bus: LatestValues[str, ResourceSet] = LatestValues()
    servicer = AggregatedDiscoveryServicer(bus, hooks=XdsHooks(on_nack=...))
    server = await start_xds_server(servicer, "127.0.0.1:18000")
    bus.publish("default/eg", resource_set(messages))   # node group = node.cluster = "<namespace>/<gateway>"
"""

from egd.xds.hooks import StreamInfo, XdsHooks
from egd.xds.servicer import AggregatedDiscoveryServicer, ConnectedStream, start_xds_server

__all__ = ["AggregatedDiscoveryServicer", "ConnectedStream", "StreamInfo", "XdsHooks", "start_xds_server"]
