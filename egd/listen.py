"""Where the daemon's servers listen, and the error a user gets when one cannot."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc


class CannotListenError(OSError):
    """A server of the daemon cannot listen on the address it was given (in use, or not of this host)."""


def add_grpc_port(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None, what: str) -> int:
    """Listen on `address` (`host:port`, port 0 picks one), in plain text or with `credentials`; the port."""
    try:
        if credentials is None:
            port: int = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:  # grpcio raises when the bind fails (older versions returned 0)
        port = 0
    if port == 0:
        raise CannotListenError(f"cannot listen for {what} on {address}: the address is in use or not of this host")
    return port
