"""Start a grpcio asyncio server that serves a RateLimitService (alone, or next to other services)."""

from __future__ import annotations

import grpc
from envoy.service.ratelimit.v3 import rls_pb2_grpc

from egd.ratelimit.service import RateLimitService
from egd.tls import ServerTls, add_grpc_port


def add_ratelimit_service(server: grpc.aio.Server, service: RateLimitService) -> None:
    """Serve `service` on an existing server (e.g. the xDS server's)."""
    rls_pb2_grpc.add_RateLimitServiceServicer_to_server(service, server)


async def start_ratelimit_server(
    service: RateLimitService, address: str, *, tls: ServerTls | None = None
) -> tuple[grpc.aio.Server, int]:
    """A started server on `address` (`host:port`, port 0 picks a free one), over TLS (mutual when `tls` names
    a client CA) or in plain text, and the port it listens on."""
    server = grpc.aio.server()
    add_ratelimit_service(server, service)
    port = add_grpc_port(server, address, tls, "rate limits")
    await server.start()
    return server, port
