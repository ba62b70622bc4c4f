"""A real HTTP/3 client for tests (aioquic): one GET over QUIC, verifying the server with a test CA."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent


class Http3Response(msgspec.Struct, frozen=True, kw_only=True):
    status: int
    headers: dict[str, str]
    body: bytes


class _Client(QuicConnectionProtocol):
    """A QUIC connection speaking HTTP/3: `get` sends one request and waits for the whole response."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = H3Connection(self._quic)
        self._events: dict[int, list[H3Event]] = {}
        self._done: dict[int, asyncio.Future[list[H3Event]]] = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        for h3_event in self._http.handle_event(event):
            if isinstance(h3_event, HeadersReceived | DataReceived):
                stream = h3_event.stream_id
                self._events.setdefault(stream, []).append(h3_event)
                waiter = self._done.get(stream)
                if h3_event.stream_ended and waiter is not None and not waiter.done():
                    waiter.set_result(self._events.pop(stream))

    async def get(self, authority: str, path: str) -> Http3Response:
        stream = self._quic.get_next_available_stream_id()
        self._done[stream] = asyncio.get_running_loop().create_future()
        self._http.send_headers(
            stream,
            [
                (b":method", b"GET"),
                (b":scheme", b"https"),
                (b":authority", authority.encode()),
                (b":path", path.encode()),
            ],
            end_stream=True,
        )
        self.transmit()
        events = await self._done[stream]
        headers: dict[str, str] = {}
        body = b""
        for event in events:
            if isinstance(event, HeadersReceived):
                headers.update((k.decode(), v.decode()) for k, v in event.headers)
            elif isinstance(event, DataReceived):
                body += event.data
        return Http3Response(status=int(headers.pop(":status")), headers=headers, body=body)


async def http3_get(
    host: str,
    port: int,
    path: str,
    *,
    server_name: str,
    ca_pem: str,
    client_certificate: tuple[Path, Path] | None = None,
    within: float = 3.0,
) -> Http3Response:
    """GET `path` over HTTP/3 from `host`:`port` (UDP), sending `server_name` as SNI and `:authority`, with
    `client_certificate` (certificate, key files) when given; raises on a handshake or response that does not
    complete `within` seconds (nothing answers on that port, or the server refused the handshake)."""
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=server_name)
    configuration.load_verify_locations(cadata=ca_pem.encode())
    if client_certificate is not None:
        configuration.load_cert_chain(*client_certificate)

    async def exchange() -> Http3Response:
        async with connect(host, port, configuration=configuration, create_protocol=_Client) as client:
            assert isinstance(client, _Client)
            return await client.get(server_name, path)

    return await asyncio.wait_for(exchange(), within)
