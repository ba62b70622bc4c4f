"""A real xDS server on a free loopback port, and real grpcio clients talking to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from egd.bus import LatestValues
from egd.xds import AggregatedDiscoveryServicer, StreamInfo, XdsHooks, start_xds_server
from egd.xds.hooks import SentInfo
from projections.xds.delta import Acknowledgement
from projections.xds.history import ResourceHistory
from projections.xds.resources import ResourceSet, diff

GROUP = "default/eg"


class Recorded:
    def __init__(self) -> None:
        self.acks: list[tuple[StreamInfo, Acknowledgement]] = []
        self.nacks: list[tuple[StreamInfo, Acknowledgement]] = []
        self.connected: list[StreamInfo] = []
        self.disconnected: list[StreamInfo] = []
        self.responses: list[tuple[StreamInfo, SentInfo]] = []

    def hooks(self) -> XdsHooks:
        return XdsHooks(
            on_connect=self.connected.append,
            on_disconnect=self.disconnected.append,
            on_ack=lambda info, ack: self.acks.append((info, ack)),
            on_nack=lambda info, nack: self.nacks.append((info, nack)),
            on_response=lambda info, sent: self.responses.append((info, sent)),
        )

    def sent_since(self, count: int) -> list[SentInfo]:
        """The responses sent after the first `count` (`len(responses)` taken before a change)."""
        return [sent for _, sent in self.responses[count:]]


class RecordingBus(LatestValues[str, ResourceSet]):
    """The bus as egd's publisher feeds it: every set published is recorded in `history` with what changed for
    delta clients (here by diffing it with the set published before), so delta streams evaluate only that."""

    def __init__(self) -> None:
        super().__init__()
        self.history = ResourceHistory()

    def publish(self, key: str, value: ResourceSet) -> None:
        previous = self.get(key) or ResourceSet()
        self.history.record(key, value, diff(previous.delta_view(), value.delta_view()))
        super().publish(key, value)


class Server:
    def __init__(self, bus: LatestValues[str, ResourceSet], servicer: AggregatedDiscoveryServicer, port: int) -> None:
        self.bus = bus
        self.servicer = servicer
        self.port = port
        self.address = f"127.0.0.1:{port}"


class Stream:
    """One ADS stream from a real grpcio client: `send` requests, `recv` responses (read in the background)."""

    def __init__(self, channel: grpc.aio.Channel, *, delta: bool, reading: bool = True, auto_ack: bool = True) -> None:
        """`auto_ack`: ACK every response as it arrives, as Envoy does (the server waits for answers)."""
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        self._delta = delta
        self._auto_ack = auto_ack
        self.call: Any = stub.DeltaAggregatedResources() if delta else stub.StreamAggregatedResources()
        self._responses: asyncio.Queue[Any] = asyncio.Queue()
        self.sotw_names: dict[str, list[str]] = {}
        self._writing = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        if reading:
            self.start_reading()

    def start_reading(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for response in self.call:
                self._responses.put_nowait(response)
                if self._auto_ack:
                    await self.send(self.ack_of(response))
        except BaseException as error:
            self._responses.put_nowait(error)

    def ack_of(self, response: Any) -> Any:
        if self._delta:
            return discovery_pb2.DeltaDiscoveryRequest(type_url=response.type_url, response_nonce=response.nonce)
        return discovery_pb2.DiscoveryRequest(
            type_url=response.type_url,
            response_nonce=response.nonce,
            version_info=response.version_info,
            resource_names=self.sotw_names.get(response.type_url, ()),
        )

    async def send(self, request: Any) -> None:
        if not self._delta:
            self.sotw_names[request.type_url] = list(request.resource_names)
        async with self._writing:  # one write at a time on a grpc.aio call
            await self.call.write(request)

    async def recv(self, within: float = 2.0) -> Any:
        response = await asyncio.wait_for(self._responses.get(), within)
        if isinstance(response, BaseException):
            raise response
        return response

    async def nothing_within(self, seconds: float = 0.3) -> bool:
        try:
            unexpected = await self.recv(seconds)
        except TimeoutError:
            return True
        print("unexpected response:", unexpected)
        return False

    def cancel(self) -> None:
        self.call.cancel()
        if self._reader is not None:
            self._reader.cancel()


def node(group: str = GROUP, node_id: str = "envoy-1") -> Any:
    from envoy.config.core.v3 import base_pb2

    return base_pb2.Node(id=node_id, cluster=group)


def delta_request(type_url: str, **fields: Any) -> discovery_pb2.DeltaDiscoveryRequest:
    return discovery_pb2.DeltaDiscoveryRequest(type_url=type_url, **fields)


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
async def server(recorded: Recorded) -> AsyncIterator[Server]:
    bus = RecordingBus()
    servicer = AggregatedDiscoveryServicer(bus, hooks=recorded.hooks(), history=bus.history)
    grpc_server, port = await start_xds_server(servicer, "127.0.0.1:0")
    try:
        yield Server(bus, servicer, port)
    finally:
        await grpc_server.stop(grace=None)


@pytest.fixture
async def channel(server: Server) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as channel:
        yield channel
