"""The NATS connection of the event store, and the one retry policy for its I/O."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats.errors
import nats.js.errors
import tenacity
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from events.errors import AccessDeniedError, StoreUnavailableError
from events.jetstream.auth import NO_AUTH, NatsAuth

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


async def open_connection(servers: Sequence[str], *, connect_timeout: float, auth: NatsAuth = NO_AUTH) -> LogConnection:
    """Connect to the first server that answers within `connect_timeout` (else StoreUnavailableError; a server
    that refuses the credentials or the TLS handshake raises AccessDeniedError at once); once connected, the
    client reconnects forever and tells its `reconnect_listeners`."""
    connection = LogConnection()
    refused: asyncio.Future[AccessDeniedError] = asyncio.get_running_loop().create_future()
    where = ", ".join(servers)

    async def reconnected() -> None:
        for listener in list(connection.reconnect_listeners):
            listener()

    async def on_error(exc: Exception) -> None:
        denial = connection.note_error(exc)
        if not connecting.done() and not refused.done():  # the first connection: refusals are final
            denial = denial or _refusal(exc, where)
            if denial is not None:
                refused.set_result(denial)

    try:
        options = auth.connect_options()
    except (ValueError, OSError, ssl.SSLError) as exc:
        raise AccessDeniedError(f"cannot use the NATS credentials or TLS files given: {exc}") from exc
    connecting = asyncio.ensure_future(
        connection.connect(
            list(servers),
            connect_timeout=connect_timeout,  # type: ignore[arg-type]  # used as a float
            allow_reconnect=True,
            max_reconnect_attempts=-1,  # once connected; the first connection is bounded by the wait below
            reconnect_time_wait=0.2,  # type: ignore[arg-type]  # used as a float
            reconnected_cb=reconnected,
            error_cb=on_error,
            **options,
        )
    )
    first: set[asyncio.Future[Any]] = {connecting, refused}
    await asyncio.wait(first, timeout=connect_timeout, return_when=asyncio.FIRST_COMPLETED)
    if connecting.done() and connecting.exception() is None:
        return connection
    connecting.cancel()
    with contextlib.suppress(BaseException):
        await connecting
    await connection.close()
    if refused.done():
        raise refused.result()
    failure = connecting.exception() if connecting.done() and not connecting.cancelled() else None
    reason = f"no answer within {connect_timeout}s" if failure is None else repr(failure)
    raise StoreUnavailableError(f"cannot reach NATS at {where}: {reason}") from failure


def _refusal(exc: Exception, where: str) -> AccessDeniedError | None:
    """The error of a connection attempt that retrying will not fix: credentials or TLS refused."""
    text = str(exc)
    if isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in text.lower():
        return AccessDeniedError(f"NATS at {where} refused egd's credentials (Authorization Violation)")
    if isinstance(exc, ssl.SSLError):
        return AccessDeniedError(f"TLS with NATS at {where} failed: {exc}")
    if "tls" in text.lower() and ("required" in text.lower() or "secure" in text.lower()):
        return AccessDeniedError(f"NATS at {where}: {text} (check --nats-tls-ca/--nats-tls-cert)")
    return None


_PERMISSION_VIOLATION = re.compile(r'Permissions Violation for (Publish|Subscription) to "?([^"\s]+)"?', re.I)


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
        self._waiting: dict[asyncio.Future[AccessDeniedError], str] = {}
        self.denials: list[str] = []
        """The permission violations NATS reported on this connection, newest last (at most a few)."""

    def note_error(self, exc: Exception) -> AccessDeniedError | None:
        """nats-py reports connection trouble and permission violations through its error callback; the
        retries and feeds handle the first. A permission violation fails the requests it concerns (a
        subscription refused fails them all: their replies cannot arrive) instead of letting them time out."""
        found = _PERMISSION_VIOLATION.search(str(exc))
        if found is None:
            return None
        operation, subject = found.group(1).lower(), found.group(2)  # nats-py lower-cases server errors
        concerned = [
            (waiter, requested)
            for waiter, requested in self._waiting.items()
            if not waiter.done() and (operation != "publish" or requested.lower() == subject)
        ]
        if operation == "publish" and concerned:
            subject = concerned[0][1]
        verb = "publish to" if operation == "publish" else "subscribe to"
        denial = AccessDeniedError(
            f"NATS refused: this user has no permission to {verb} {subject!r} (see docs/security.md)"
        )
        self.denials = [*self.denials[-7:], str(denial)]
        for waiter, _ in concerned:
            waiter.set_result(denial)
        return denial

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float = 0.5,  # noqa: ASYNC109  # nats-py's signature
        old_style: bool = False,
        headers: dict[str, Any] | None = None,
    ) -> Msg:
        """nats-py's request, failed with AccessDeniedError as soon as NATS says the user may not make it."""
        denied: asyncio.Future[AccessDeniedError] = asyncio.get_running_loop().create_future()
        self._waiting[denied] = subject
        requesting = asyncio.ensure_future(super().request(subject, payload, timeout, old_style, headers))
        either: set[asyncio.Future[Any]] = {requesting, denied}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            del self._waiting[denied]
            if not requesting.done():
                requesting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await requesting
        if requesting.done() and not requesting.cancelled():
            reply: Msg = requesting.result()
            return reply
        raise denied.result()

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
