"""Resources as plain data (proto3 JSON via `json_format`), for `egd translate --output-type xds` and golden files."""

from __future__ import annotations

import json
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf import any_pb2, json_format

from projections.xds.resources import ResourceSet, type_url_of

_MESSAGES = {
    type_url_of(cls()): cls
    for cls in (
        listener_pb2.Listener,
        route_pb2.RouteConfiguration,
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


def resource_documents(resources: ResourceSet) -> list[dict[str, Any]]:
    """Every resource, sorted by type URL then name: `{type_url, name, version, resource}`."""
    out = []
    for type_url in sorted(resources.by_type):
        for name, resource in sorted(resources.of_type(type_url).items()):
            message = decode_resource(type_url, resource.body)
            out.append(
                {
                    "type_url": type_url,
                    "name": name,
                    "version": resource.version,
                    "resource": json.loads(json_format.MessageToJson(message, preserving_proto_field_name=True)),
                }
            )
    return out
