"""The event store on NATS JetStream: one stream holds every resource subject, and keeps everything.

Writes are JetStream atomic batch publishes (nats-server 2.12+, stream `allow_atomic`): up to
`ATOMIC_BATCH_LIMIT` events are stored together or not at all, and the server checks every
`Nats-Expected-Last-Subject-Sequence` of the batch under one lock at commit. `Nats-Msg-Id` (the hash of the
event's bytes) makes a retried write land once.

Reads use an ephemeral push consumer with flow control (`feed.ConsumerFeed`): nats-py's pull `fetch()` tops
out far below what a replay needs. The feed tracks the last stream sequence it delivered and re-creates its
consumer from the next one after a gap, a stall or a reconnect, so that nothing is skipped or repeated even
across a nats-server restart.

Modules: `store` (the EventStore), `stream` (the stream's configuration), `feed` (reading), `connection`
(the nats-py client and the reconnect retry policy), `api` (JetStream API replies and headers).
"""

from events.jetstream.store import JetStreamEventStore
from events.jetstream.stream import DEFAULT_STREAM, DUPLICATE_WINDOW_SECONDS, stream_config

__all__ = ["DEFAULT_STREAM", "DUPLICATE_WINDOW_SECONDS", "JetStreamEventStore", "stream_config"]
