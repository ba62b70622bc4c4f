"""Resources as plain data (proto3 JSON via `json_format`), for `egd translate --output-type xds` and golden files."""

from __future__ import annotations

import json
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf import any_pb2, descriptor_pool, json_format
from google.protobuf.descriptor import Descriptor

from projections.xds.resources import ResourceSet, type_url_of

_MESSAGES = {
    type_url_of(cls()): cls
    for cls in (
        listener_pb2.Listener,
        route_pb2.RouteConfiguration,
        route_components_pb2.VirtualHost,
        cluster_pb2.Cluster,
        endpoint_pb2.ClusterLoadAssignment,
        secret_pb2.Secret,
    )
}


def decode_resource(type_url: str, body: bytes) -> Any:
    """The message held by a `VersionedResource.body` (a serialised Any)."""
    packed = any_pb2.Any.FromString(body)
    if packed.type_url != type_url:
        raise ValueError(f"resource of type {packed.type_url!r} filed under {type_url!r}")
    return _MESSAGES[type_url].FromString(packed.value)


def resource_documents(resources: ResourceSet, *, delta: bool = False) -> list[dict[str, Any]]:
    """Every resource, sorted by type URL then name: `{type_url, name, version, resource}`; as served to
    state-of-the-world clients, or to delta clients (`delta`: route configurations in their VHDS form)."""
    out = []
    served = resources.delta_view() if delta else resources
    for type_url in sorted(served.by_type):
        for name, resource in sorted(served.of_type(type_url).items()):
            message = decode_resource(type_url, resource.body)
            out.append(
                {
                    "type_url": type_url,
                    "name": name,
                    "version": resource.version,
                    "resource": _sorted_maps(
                        json.loads(json_format.MessageToJson(message, preserving_proto_field_name=True)),
                        message.DESCRIPTOR,
                    ),
                }
            )
    return out


def _sorted_maps(value: Any, descriptor: Descriptor) -> Any:
    """`value` (the JSON of a message of `descriptor`) with the entries of every map field sorted by key: the
    order json_format gives a map is the order of the map in memory, which may differ between runs."""
    if not isinstance(value, dict):
        return value
    if "@type" in value:
        name = str(value["@type"]).rsplit("/", 1)[-1]
        try:
            descriptor = descriptor_pool.Default().FindMessageTypeByName(name)
        except KeyError:
            return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        field = descriptor.fields_by_name.get(key)
        if field is None or field.message_type is None:
            out[key] = item
        elif field.message_type.full_name == "google.protobuf.Struct":  # a map too (access log JSON formats)
            out[key] = json.loads(json.dumps(item, sort_keys=True))
        elif field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name["value"]
            out[key] = {
                k: _sorted_maps(v, entry.message_type) if entry.message_type is not None else v
                for k, v in sorted(item.items())
            }
        elif isinstance(item, list):
            out[key] = [_sorted_maps(v, field.message_type) for v in item]
        else:
            out[key] = _sorted_maps(item, field.message_type)
    return out
