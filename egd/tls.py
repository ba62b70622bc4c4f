"""TLS for egd's gRPC servers (xDS, rate limits): a certificate and key to serve with, and, for mutual TLS,
the CA that client certificates must be signed by (a client without one is refused in the handshake)."""

from __future__ import annotations

from pathlib import Path

import grpc
import msgspec

from egd.listen import CannotListenError
from projections.xds.bootstrap import XdsClientTls


class ServerTls(msgspec.Struct, frozen=True, kw_only=True):
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    """Given: clients must present a certificate signed by this CA (mutual TLS)."""

    @property
    def mutual(self) -> bool:
        return self.client_ca_file is not None


def grpc_server_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """Credentials for `grpc.aio.Server.add_secure_port`; the files are read once, now."""
    root = tls.client_ca_file.read_bytes() if tls.client_ca_file is not None else None
    return grpc.ssl_server_credentials(
        [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
        root_certificates=root,
        require_client_auth=root is not None,
    )


def add_grpc_port(server: grpc.aio.Server, address: str, tls: ServerTls | None, what: str) -> int:
    """Listen on `address` (`host:port`, port 0 picks one), over `tls` or in plain text; the port."""
    try:
        if tls is None:
            port: int = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, grpc_server_credentials(tls))
    except RuntimeError:  # grpcio raises when the bind fails (older versions returned 0)
        port = 0
    if port == 0:
        raise CannotListenError(f"cannot listen for {what} on {address}: the address is in use or not of this host")
    return port


def server_tls_from_flags(cert: Path | None, key: Path | None, client_ca: Path | None) -> ServerTls | None:
    """The TLS of a server from its `--*-tls-cert/--*-tls-key/--*-client-ca` flags; ValueError when they do
    not make sense together."""
    if cert is None and key is None:
        if client_ca is not None:
            raise ValueError("a client CA (mutual TLS) needs the server's own certificate and key")
        return None
    if cert is None or key is None:
        raise ValueError("a TLS certificate and its key go together")
    return ServerTls(cert_file=cert, key_file=key, client_ca_file=client_ca)


def envoy_tls_from_flags(
    server: ServerTls | None, ca: str | None, cert: str | None, key: str | None, sni: str | None
) -> XdsClientTls | None:
    """How Envoys reach a server of egd's that serves `server` TLS, from `--*-envoy-tls-ca/-cert/-key/-sni`
    (paths on the Envoys' hosts); ValueError when Envoy could not talk to that server with them."""
    if server is None:
        if ca or cert or key or sni:
            raise ValueError("TLS from Envoy needs the server to serve TLS (its certificate and key)")
        return None
    if ca is None:
        raise ValueError("a server over TLS needs the CA Envoys verify its certificate with")
    if (cert is None) != (key is None):
        raise ValueError("Envoy's client certificate and its key go together")
    if server.mutual and cert is None:
        raise ValueError("mutual TLS (a client CA) needs Envoy's client certificate and key")
    return XdsClientTls(ca_file=ca, cert_file=cert, key_file=key, sni=sni)
