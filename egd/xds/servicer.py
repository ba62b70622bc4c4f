"""The Aggregated Discovery Service: `DeltaAggregatedResources` (primary) and `StreamAggregatedResources`.

Each stream has two tasks: a reader that applies requests to the stream's own protocol state
(`projections.xds.delta.DeltaStream` / `projections.xds.sotw.SotwStream`), and the handler itself,
the only writer. The stream watches its node group on the bus; whenever it is woken it builds one
response at a time against the *latest* resource set and writes it, so a slow Envoy (its HTTP/2
window full) coalesces intermediate versions instead of queueing them, and never holds up others.
Responses are written as bytes prepared by `projections.xds.wire` around each resource's shared bytes.
Given the `ResourceHistory` its publisher records, a delta stream evaluates only what changed since the set
it last evaluated; without (or for a set not recorded there) it evaluates every resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import grpc
import structlog
from envoy.service.discovery.v3 import discovery_pb2

from egd.bus import LatestValues, Watch
from egd.tls import ServerTls, add_grpc_port
from egd.xds.hooks import SentInfo, StreamInfo, XdsHooks
from projections.xds.delta import Acknowledgement, DeltaResponse, DeltaStream
from projections.xds.history import ResourceHistory
from projections.xds.resources import ResourceSet
from projections.xds.sotw import SotwResponse, SotwStream
from projections.xds.wire import encode_delta_response, encode_sotw_response

SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"
log = structlog.get_logger("egd.xds")


class _InvalidRequestError(Exception):
    pass


class _AnswerFields(TypedDict):
    type_url: str
    response_nonce: str
    has_error: bool
    error_code: int
    error_message: str


def _answer_fields(request: discovery_pb2.DiscoveryRequest | discovery_pb2.DeltaDiscoveryRequest) -> _AnswerFields:
    """What delta and SotW requests both carry: the type URL (required on ADS) and the ACK/NACK they answer with."""
    if not request.type_url:
        raise _InvalidRequestError("type URL is required for ADS")
    has_error = request.HasField("error_detail")
    return _AnswerFields(
        type_url=request.type_url,
        response_nonce=request.response_nonce,
        has_error=has_error,
        error_code=request.error_detail.code if has_error else 0,
        error_message=request.error_detail.message if has_error else "",
    )


@dataclass(slots=True)
class ConnectedStream:
    """A live stream, as status pages see it."""

    info: StreamInfo
    state: DeltaStream | SotwStream
    nacks: list[Acknowledgement] = field(default_factory=list)
    """The last NACKs of this stream (at most `MAX_NACKS_KEPT`)."""
    writing_since: float | None = None
    """Loop time since which a response has been waiting for the client to take it (flow control): a stream has
    no queue to measure, only at most one response being written and a set of what changed since."""

    def acked_versions(self) -> dict[str, dict[str, str]]:
        """Delta: type URL -> name -> version ACKed. SotW: type URL -> {"version_info": ACKed version}."""
        if isinstance(self.state, DeltaStream):
            return {t: dict(s.acked) for t, s in self.state.subscriptions.items()}
        return {t: {"version_info": s.acked_version} for t, s in self.state.subscriptions.items()}


MAX_NACKS_KEPT = 8


class AggregatedDiscoveryServicer:
    """Serves every Envoy the `ResourceSet` published on `bus` under its `node.cluster`."""

    def __init__(
        self,
        bus: LatestValues[str, ResourceSet],
        *,
        hooks: XdsHooks | None = None,
        history: ResourceHistory | None = None,
        control_plane: str = "egd",
        send_timeout: float = 60.0,
        answer_timeout: float = 5.0,
    ) -> None:
        self._bus = bus
        self._hooks = hooks or XdsHooks()
        self._history = history
        self._control_plane = control_plane
        self._send_timeout = send_timeout
        self._answer_timeout = answer_timeout
        self._ids = itertools.count(1)
        self.streams: dict[int, ConnectedStream] = {}

    def add_to_server(self, server: grpc.aio.Server) -> None:
        def as_is(data: bytes) -> bytes:
            return data

        handlers = {
            "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.DeltaAggregatedResources,
                request_deserializer=discovery_pb2.DeltaDiscoveryRequest.FromString,
                response_serializer=as_is,
            ),
            "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.StreamAggregatedResources,
                request_deserializer=discovery_pb2.DiscoveryRequest.FromString,
                response_serializer=as_is,
            ),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))

    async def DeltaAggregatedResources(  # noqa: N802 - the gRPC method name
        self, requests: AsyncIterator[discovery_pb2.DeltaDiscoveryRequest], context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        state = DeltaStream(answer_timeout=self._answer_timeout)

        def apply(request: discovery_pb2.DeltaDiscoveryRequest) -> Acknowledgement | None:
            return state.apply_request(
                subscribe=request.resource_names_subscribe,
                unsubscribe=request.resource_names_unsubscribe,
                initial_versions=request.initial_resource_versions,
                **_answer_fields(request),
            )

        def next_response(resources: ResourceSet, now: float) -> tuple[bytes, SentInfo] | None:
            revision = self._history.revision_of(resources) if self._history is not None else None
            response = state.next_response(resources, now, revision)
            return None if response is None else self._encode_delta(response)

        await self._serve("delta", requests, context, state, apply, next_response)

    async def StreamAggregatedResources(  # noqa: N802 - the gRPC method name
        self, requests: AsyncIterator[discovery_pb2.DiscoveryRequest], context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        state = SotwStream(answer_timeout=self._answer_timeout)

        def apply(request: discovery_pb2.DiscoveryRequest) -> Acknowledgement | None:
            return state.apply_request(resource_names=request.resource_names, **_answer_fields(request))

        def next_response(resources: ResourceSet, now: float) -> tuple[bytes, SentInfo] | None:
            response = state.next_response(resources, now)
            return None if response is None else self._encode_sotw(response)

        await self._serve("sotw", requests, context, state, apply, next_response)

    def _encode_delta(self, response: DeltaResponse) -> tuple[bytes, SentInfo]:
        data = encode_delta_response(
            type_url=response.type_url,
            nonce=response.nonce,
            resources=response.resources,
            removed=response.removed,
            control_plane=self._control_plane,
        )
        info = SentInfo(
            type_url=response.type_url,
            nonce=response.nonce,
            resources=len(response.resources),
            removed=len(response.removed),
            size=len(data),
        )
        return data, info

    def _encode_sotw(self, response: SotwResponse) -> tuple[bytes, SentInfo]:
        data = encode_sotw_response(
            type_url=response.type_url,
            nonce=response.nonce,
            version_info=response.version_info,
            resources=response.resources,
            control_plane=self._control_plane,
        )
        info = SentInfo(
            type_url=response.type_url,
            nonce=response.nonce,
            resources=len(response.resources),
            removed=0,
            size=len(data),
        )
        return data, info

    async def _serve(
        self,
        variant: Literal["delta", "sotw"],
        requests: AsyncIterator[Any],
        context: grpc.aio.ServicerContext[Any, Any],
        state: DeltaStream | SotwStream,
        apply: Callable[[Any], Acknowledgement | None],
        next_response: Callable[[ResourceSet, float], tuple[bytes, SentInfo] | None],
    ) -> None:
        first = await anext(aiter(requests), None)
        if first is None:
            return
        # An Envoy names its Gateway in node.cluster; envoyproxy/ratelimit sends only node.id (its
        # CONFIG_GRPC_XDS_NODE_ID), which then names the node group.
        node_group = first.node.cluster or first.node.id
        if not node_group:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "node.cluster must name the Gateway: <namespace>/<name>"
            )
        info = StreamInfo(
            stream_id=next(self._ids),
            variant=variant,
            node_id=first.node.id,
            node_group=node_group,
            peer=context.peer(),
        )
        stream = self.streams[info.stream_id] = ConnectedStream(info=info, state=state)
        watch: Watch[str, ResourceSet] = self._bus.watch(node_group)
        problem: list[str] = []
        reader = asyncio.create_task(self._read(info, stream, first, requests, apply, watch, problem))
        self._call(self._hooks.on_connect, info)
        log.info(
            "xds.stream_opened", stream_id=info.stream_id, variant=variant, node_id=info.node_id, node_group=node_group
        )
        try:
            loop = asyncio.get_running_loop()
            while True:
                await self._woken(watch, state.wake_at(), loop)
                if problem:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem[0])
                if reader.done():
                    return
                while (resources := watch.latest()) is not None and (
                    prepared := next_response(resources, loop.time())
                ) is not None:
                    data, sent = prepared
                    # before the write: the client's answer to it may be handled before the write returns
                    self._call(self._hooks.on_response, info, sent)
                    stream.writing_since = loop.time()
                    async with asyncio.timeout(self._send_timeout):
                        await context.write(data)
                    stream.writing_since = None
        except TimeoutError:
            log.warning("xds.stream_stuck", stream_id=info.stream_id, node_id=info.node_id, timeout=self._send_timeout)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the client did not read its responses in time")
        finally:
            reader.cancel()
            watch.close()
            del self.streams[info.stream_id]
            self._call(self._hooks.on_disconnect, info)
            log.info("xds.stream_closed", stream_id=info.stream_id, node_id=info.node_id)

    @staticmethod
    async def _woken(watch: Watch[str, ResourceSet], wake_at: float | None, loop: asyncio.AbstractEventLoop) -> None:
        """Until the stream has news (a request, a new resource set) or its wait for the client ends."""
        if wake_at is None:
            await watch.changed.wait()
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(wake_at):
                    await watch.changed.wait()
        watch.changed.clear()

    async def _read(
        self,
        info: StreamInfo,
        stream: ConnectedStream,
        first: Any,
        requests: AsyncIterator[Any],
        apply: Callable[[Any], Acknowledgement | None],
        watch: Watch[str, ResourceSet],
        problem: list[str],
    ) -> None:
        try:
            self._handle(info, stream, apply(first))
            watch.changed.set()
            async for request in requests:
                self._handle(info, stream, apply(request))
                watch.changed.set()
        except _InvalidRequestError as error:
            problem.append(str(error))
        finally:
            watch.changed.set()

    def _handle(self, info: StreamInfo, stream: ConnectedStream, answer: Acknowledgement | None) -> None:
        if answer is None:
            return
        if answer.kind == "ack":
            self._call(self._hooks.on_ack, info, answer)
            return
        stream.nacks = [*stream.nacks[-(MAX_NACKS_KEPT - 1) :], answer]
        log.warning(
            "xds.nack",
            stream_id=info.stream_id,
            node_id=info.node_id,
            node_group=info.node_group,
            type_url=answer.type_url,
            nonce=answer.nonce,
            error_code=answer.error_code,
            error_message=answer.error_message,
            resources=list(answer.response.resources) if answer.response else None,
        )
        self._call(self._hooks.on_nack, info, answer)

    @staticmethod
    def _call(hook: Callable[..., None], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            log.exception("xds.hook_failed", hook=getattr(hook, "__name__", repr(hook)))


MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""The largest request accepted (grpc's default is 4 MiB): a reconnecting Envoy reports every resource it holds
of a type in `initial_resource_versions`, about 120 bytes each (a SotW client names every route configuration
or cluster it watches), and must get through whatever it holds, or it reconnects in a loop with its
configuration frozen. 64 MiB: half a million resources, and a bound on what one peer can make egd hold."""


async def start_xds_server(
    servicer: AggregatedDiscoveryServicer, address: str, *, tls: ServerTls | None = None
) -> tuple[grpc.aio.Server, int]:
    """Start a grpc.aio server for `servicer` on `address` (`host:port`; port 0 picks one), over TLS (mutual
    when `tls` names a client CA) or in plain text. Returns it and its port."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_concurrent_streams", 100_000),
            ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ]
    )
    servicer.add_to_server(server)
    port = add_grpc_port(server, address, tls, "xDS")
    await server.start()
    return server, port
