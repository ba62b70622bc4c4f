"""The NATS connection of the event store, and the one retry policy for its I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import nats.errors
import nats.js.errors
import tenacity
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from events.errors import StoreUnavailableError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,  # nats.errors.TimeoutError is an asyncio.TimeoutError, which is TimeoutError
    ConnectionError,  # the socket dropped under a write
    nats.errors.NoRespondersError,  # JetStream not ready yet after a restart
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
)


def retry_while_reconnecting(give_up_after: float | None) -> tenacity.AsyncRetrying:
    """Retry policy for I/O across a lost connection or a restarting server; never for anything else.
    `give_up_after=None` retries for as long as it takes (a live follower outlives any outage)."""
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(TRANSIENT_ERRORS),
        wait=tenacity.wait_exponential(multiplier=0.05, max=1.0),
        stop=tenacity.stop_never if give_up_after is None else tenacity.stop_after_delay(give_up_after),
        reraise=True,
    )


async def open_connection(servers: Sequence[str], *, connect_timeout: float) -> LogConnection:
    """Connect to the first server that answers within `connect_timeout` (else StoreUnavailableError); once
    connected, the client reconnects forever and tells its `reconnect_listeners`."""
    connection = LogConnection()

    async def reconnected() -> None:
        for listener in list(connection.reconnect_listeners):
            listener()

    connecting = connection.connect(
        list(servers),
        connect_timeout=connect_timeout,  # type: ignore[arg-type]  # used as a float
        allow_reconnect=True,
        max_reconnect_attempts=-1,  # once connected; the first connection is bounded by wait_for
        reconnect_time_wait=0.2,  # type: ignore[arg-type]  # used as a float
        reconnected_cb=reconnected,
        error_cb=_ignore_error,
    )
    try:
        await asyncio.wait_for(connecting, connect_timeout)
    except (OSError, TimeoutError, nats.errors.NoServersError) as exc:
        await connection.close()
        reason = f"no answer within {connect_timeout}s" if isinstance(exc, TimeoutError) else repr(exc)
        raise StoreUnavailableError(f"cannot reach NATS at {', '.join(servers)}: {reason}") from exc
    return connection


async def _ignore_error(exc: Exception) -> None:
    """nats-py reports connection trouble here too; the retries and feeds handle it."""


class LogConnection(Client):
    """A nats-py client with a fast lane for log records.

    A subscription made with `subscribe_records` hands each JetStream-delivered message straight to a
    plain function, as the bytes arrive: no `Msg`, no header parsing, no queue and no task switch per record,
    which is what replay throughput is made of. Its status messages (heartbeats, flow control) take nats-py's
    ordinary path to the subscription's callback. Other messages skip the parsing of ordinary headers, which
    the store never reads; status headers are still parsed.
    """

    def __init__(self) -> None:
        super().__init__()
        self._record_handlers: dict[int, Callable[[bytes, bytes, bytes], None]] = {}
        self.reconnect_listeners: set[Callable[[], None]] = set()

    async def subscribe_records(
        self,
        subject: str,
        on_record: Callable[[bytes, bytes, bytes], None],
        on_status: Callable[[Msg], Awaitable[None]],
    ) -> Subscription:
        """`on_record(subject, ack_reply, data)` for every message whose reply is a JetStream ack subject."""
        subscription = await self.subscribe(subject, cb=on_status, pending_msgs_limit=0, pending_bytes_limit=0)
        self._record_handlers[subscription._id] = on_record
        return subscription

    def forget_records(self, subscription: Subscription) -> None:
        self._record_handlers.pop(subscription._id, None)

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        on_record = self._record_handlers.get(sid)
        if on_record is not None and reply.startswith(b"$JS.ACK."):
            on_record(subject, reply, data)
            return
        await super()._process_msg(sid, subject, reply, data, headers)

    async def _process_headers(self, headers: bytes | None) -> dict[str, str] | None:
        if not headers or headers[8:9] == b" ":  # "NATS/1.0 100 ..." carries a status
            result: dict[str, str] | None = await super()._process_headers(headers)
            return result
        return None
