"""Discovery responses written straight in protobuf wire format around already-serialised resources.

A response is a handful of small fields around resources that are the same bytes for every stream;
building it as a protobuf message would copy and re-encode each resource for each stream. Here each
`VersionedResource.body` (a serialised `Any`) is spliced in as it is. The field numbers are those of
`envoy.service.discovery.v3` (xds-protos 1.85); the tests parse every shape back with the real classes.
"""

from __future__ import annotations

from collections.abc import Iterable

from projections.xds.resources import VersionedResource
from projections.xds.splice import field_record

# DeltaDiscoveryResponse
_DELTA_SYSTEM_VERSION_INFO = 1
_DELTA_RESOURCES = 2
_DELTA_TYPE_URL = 4
_DELTA_NONCE = 5
_DELTA_REMOVED_RESOURCES = 6
_DELTA_CONTROL_PLANE = 7
# Resource
_RESOURCE_VERSION = 1
_RESOURCE_RESOURCE = 2
_RESOURCE_NAME = 3
# DiscoveryResponse
_SOTW_VERSION_INFO = 1
_SOTW_RESOURCES = 2
_SOTW_TYPE_URL = 4
_SOTW_NONCE = 5
_SOTW_CONTROL_PLANE = 6
# ControlPlane
_CONTROL_PLANE_IDENTIFIER = 1


def _text(number: int, value: str) -> bytes:
    return field_record(number, value.encode()) if value else b""


def _control_plane(number: int, identifier: str) -> bytes:
    return field_record(number, _text(_CONTROL_PLANE_IDENTIFIER, identifier)) if identifier else b""


def _delta_resource(resource: VersionedResource) -> bytes:
    return field_record(
        _DELTA_RESOURCES,
        _text(_RESOURCE_NAME, resource.name)
        + _text(_RESOURCE_VERSION, resource.version)
        + field_record(_RESOURCE_RESOURCE, resource.body),
    )


def encode_delta_response(
    *,
    type_url: str,
    nonce: str,
    resources: Iterable[VersionedResource] = (),
    removed: Iterable[str] = (),
    system_version_info: str = "",
    control_plane: str = "",
) -> bytes:
    """A serialised `DeltaDiscoveryResponse`."""
    parts = [_text(_DELTA_SYSTEM_VERSION_INFO, system_version_info)]
    parts.extend(_delta_resource(r) for r in resources)
    parts.append(_text(_DELTA_TYPE_URL, type_url))
    parts.append(_text(_DELTA_NONCE, nonce))
    parts.extend(field_record(_DELTA_REMOVED_RESOURCES, name.encode()) for name in removed)
    parts.append(_control_plane(_DELTA_CONTROL_PLANE, control_plane))
    return b"".join(parts)


def encode_sotw_response(
    *,
    type_url: str,
    nonce: str,
    version_info: str,
    resources: Iterable[VersionedResource] = (),
    control_plane: str = "",
) -> bytes:
    """A serialised `DiscoveryResponse`."""
    parts = [_text(_SOTW_VERSION_INFO, version_info)]
    parts.extend(field_record(_SOTW_RESOURCES, r.body) for r in resources)
    parts.append(_text(_SOTW_TYPE_URL, type_url))
    parts.append(_text(_SOTW_NONCE, nonce))
    parts.append(_control_plane(_SOTW_CONTROL_PLANE, control_plane))
    return b"".join(parts)
