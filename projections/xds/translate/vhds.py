"""The VHDS form of route configurations, served to delta clients: a RouteConfiguration that reads its
virtual hosts over VHDS, and one VirtualHost resource per virtual host. A changed route then re-sends its
VirtualHost only, instead of the whole RouteConfiguration. State-of-the-world clients cannot do VHDS (it
is delta only) and keep the inline form.

What Envoy 1.40 does (source/common/router/vhds.cc, route_config_update_receiver_impl.cc,
config/watch_map.cc; each point checked against the real binary):
- A RouteConfiguration with `vhds` (config source ADS, on a delta ADS stream) makes Envoy watch the
  VirtualHosts named `<route configuration name>/<x>`, `x` without a slash (namespace matching). It asks
  with an empty `resource_names_subscribe` (a legacy wildcard) and takes any VirtualHost pushed in that
  namespace: no on-demand filter is needed; a host no virtual host matches gets a 404, as inline.
- VirtualHosts are kept, replaced and removed by their `name` field, so `name` is the resource name.
- A listener whose route configuration has `vhds` warms until a VirtualHost of its namespace arrives (an
  empty response does not do), so a route configuration without virtual hosts gets a placeholder with no
  routes, which answers what no virtual host answers: 404.
- The virtual hosts received over VHDS survive updates of the RouteConfiguration while its `vhds` stays the
  same, but not a switch to inline and back (removed ones come back): a route configuration is always in
  this form for delta clients, never switched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2

from projections.xds.resources import VIRTUAL_HOST, VersionedResource, versioned
from projections.xds.splice import any_head
from projections.xds.translate.clusters import ads_source
from projections.xds.translate.routes import route_configuration_tail, virtual_host_head

PLACEHOLDER_DOMAIN = "_egd-no-virtual-host"
"""The domain of a route configuration's placeholder virtual host: with an underscore, which no Gateway API
hostname may contain, so that no real virtual host can claim it too."""


def virtual_host_name(route_configuration: str, domain: str) -> str:
    """`<route configuration>/<domain>`, Envoy's VHDS naming; a slash in the domain (which only a patch could
    put there) is escaped, as the namespace is what comes before the last slash."""
    return f"{route_configuration}/{domain.replace('%', '%25').replace('/', '%2F')}"


def vhds_route_configuration(inline: Any) -> Any:
    """The VHDS form of an inline RouteConfiguration: every field but the virtual hosts, and `vhds`."""
    out = route_pb2.RouteConfiguration()
    out.CopyFrom(inline)
    out.ClearField("virtual_hosts")
    out.vhds.config_source.CopyFrom(ads_source())
    return out


def route_configuration(name: str, http3_port: int | None) -> VersionedResource:
    """The VHDS form of a RouteConfiguration egd generated: its name and the fields after its virtual hosts
    (the `alt-svc` header of a listener serving HTTP/3 on `http3_port`)."""
    inline = route_configuration_tail(http3_port)
    inline.name = name
    return versioned(vhds_route_configuration(inline))


def virtual_host_body(
    route_configuration: str, hostname: str, route_records: Sequence[bytes], size: int, tail: bytes
) -> bytes:
    """A serialised Any holding a VirtualHost of egd's: its VHDS name, its domain, its routes' records (`size`
    bytes in all), then `tail` (its fields numbered above the routes)."""
    head = virtual_host_head(virtual_host_name(route_configuration, hostname), hostname)
    return b"".join([any_head(VIRTUAL_HOST, len(head) + size + len(tail)), head, *route_records, tail])


def placeholder(route_configuration: str) -> VersionedResource:
    """The VirtualHost of a route configuration that has none (so that Envoy's VHDS warming completes)."""
    return versioned(
        rc.VirtualHost(name=virtual_host_name(route_configuration, PLACEHOLDER_DOMAIN), domains=[PLACEHOLDER_DOMAIN])
    )


def split(inline: Any) -> tuple[VersionedResource, tuple[VersionedResource, ...]]:
    """The VHDS form of any inline RouteConfiguration (one an EnvoyPatchPolicy changed): the configuration,
    and its virtual hosts each renamed `<route configuration>/<first domain>`, as egd names its own."""
    hosts: list[VersionedResource] = []
    for virtual_host in inline.virtual_hosts:
        renamed = rc.VirtualHost()
        renamed.CopyFrom(virtual_host)
        renamed.name = virtual_host_name(inline.name, virtual_host.domains[0] if virtual_host.domains else "")
        hosts.append(versioned(renamed))
    return versioned(vhds_route_configuration(inline)), tuple(hosts) or (placeholder(inline.name),)
