"""Resource names, derived from IR identities only (never from a position in a list).

  Listener                 `<gateway>/<tcp|udp>/<address>/<port>`   one per bound socket; the address is
                           in the name because Envoy cannot move a listener to another address
                           `<gateway>/quic/<address>/<port>`        the QUIC (HTTP/3) twin of a TCP port's HTTPS
                                                                    listeners, over UDP
  RouteConfiguration       `<gateway>/http/<port>`                  the plain-HTTP listeners sharing a port
                           `<HTTPS listener name>`                  one per HTTPS listener (its own filter chain)
  Cluster                  `<destination name>`                     `service/<ns>/<svc>/<port>`, `backend/<ns>/<name>`
                           `<destination name>/h2`                  the same backend spoken to over HTTP/2 (gRPC routes)
                           `<destination name>/<settings id>[/h2]`  with a BackendTrafficPolicy's cluster settings
                                                                    (id: a content hash of the settings)
  ClusterLoadAssignment    `<destination name>`                     shared by both clusters of a destination
  Secret                   `<namespace>/<secret>`                   the IR certificate's name

A cluster's name says what it points at and how, so reordering rules or adding routes never renames it.
"""

from __future__ import annotations

INVALID_BACKEND_CLUSTER = "invalid-backend"
"""Named by routes that must answer 500 for a share of their traffic; no cluster of this name ever exists."""

HTTP2_SUFFIX = "/h2"


def listener_name(gateway: str, transport: str, address: str, port: int) -> str:
    return f"{gateway}/{transport}/{address}/{port}"


def http_route_configuration_name(gateway: str, port: int) -> str:
    return f"{gateway}/http/{port}"


def cluster_name(destination: str, *, http2: bool = False, settings: str | None = None) -> str:
    """`settings`: the id of a route's BackendTrafficPolicy cluster settings (`ir.ClusterVariant.name`)."""
    base = f"{destination}/{settings}" if settings is not None else destination
    return base + HTTP2_SUFFIX if http2 else base
