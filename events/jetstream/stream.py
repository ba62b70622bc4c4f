"""The audit stream's configuration, created or brought up to date on connect."""

from __future__ import annotations

import nats.js.errors
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from events.errors import EventStoreError, StoreUnavailableError
from events.jetstream.connection import TRANSIENT_ERRORS, LogConnection, retry_while_reconnecting
from events.keys import ALL_RESOURCES_SUBJECT

DEFAULT_STREAM = "EGD_EVENTS"
DUPLICATE_WINDOW_SECONDS = 120.0


def stream_config(name: str = DEFAULT_STREAM, *, replicas: int = 1) -> StreamConfig:
    """The audit stream: every resource subject, on disk, kept forever, never deleted from or purged."""
    return StreamConfig(
        name=name,
        subjects=[ALL_RESOURCES_SUBJECT],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_msgs=-1,
        max_bytes=-1,
        max_msgs_per_subject=-1,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
        allow_atomic=True,
    )


def config_drift(actual: StreamConfig, wanted: StreamConfig) -> list[str]:
    fields = (
        *("subjects", "storage", "max_age", "max_msgs", "max_bytes", "max_msgs_per_subject", "num_replicas"),
        *("duplicate_window", "deny_delete", "deny_purge", "allow_direct", "allow_atomic"),
    )
    drift = []
    for field in fields:
        have, want = getattr(actual, field), getattr(wanted, field)
        if field == "max_age":
            have, want = have or 0, want or 0
        if have != want:
            drift.append(f"{field}={have!r} (want {want!r})")
    return drift


async def ensure_stream(
    connection: LogConnection, wanted: StreamConfig, *, give_up_after: float, update: bool = True
) -> None:
    """Create the stream, or update it where it differs from `wanted` (with `update`; without, a stream that
    exists is left as its owner configured it: a producer must not turn an R3 stream into an R1 one)."""
    assert wanted.name is not None
    jsm = connection.jsm()
    try:
        async for attempt in retry_while_reconnecting(give_up_after):
            with attempt:
                try:
                    info = await jsm.stream_info(wanted.name)
                except nats.js.errors.NotFoundError:
                    try:
                        await jsm.add_stream(wanted)
                    except nats.js.errors.BadRequestError as exc:
                        raise EventStoreError(f"cannot create stream {wanted.name}: {exc.description}") from exc
                    return
                drift = config_drift(info.config, wanted) if update else []
                if drift:
                    try:
                        await jsm.update_stream(wanted)
                    except nats.js.errors.APIError as exc:
                        raise EventStoreError(
                            f"stream {wanted.name} differs from egd's configuration ({', '.join(drift)}) "
                            f"and cannot be updated: {exc.description}"
                        ) from exc
    except TRANSIENT_ERRORS as exc:
        raise StoreUnavailableError(f"JetStream did not answer for stream {wanted.name}: {exc!r}") from exc
