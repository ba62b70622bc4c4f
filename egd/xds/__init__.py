"""The xDS server: Aggregated Discovery Service (delta and state-of-the-world) over grpcio asyncio.

The lead wires it like this::

    bus: LatestValues[str, ResourceSet] = LatestValues()
    history = ResourceHistory()  # optional: delta streams then evaluate only what changed
    servicer = AggregatedDiscoveryServicer(bus, hooks=XdsHooks(on_nack=...), history=history)
    server = await start_xds_server(servicer, "127.0.0.1:18000")
    history.record("default/eg", resources, changes)  # each set published, with its XdsUpdate.delta_changes
    bus.publish("default/eg", resources)   # node group = node.cluster = "<namespace>/<gateway>"
"""

from egd.xds.hooks import StreamInfo, XdsHooks
from egd.xds.servicer import AggregatedDiscoveryServicer, ConnectedStream, start_xds_server

__all__ = ["AggregatedDiscoveryServicer", "ConnectedStream", "StreamInfo", "XdsHooks", "start_xds_server"]
