"""Errors raised by the `events` package.

EventError
 ├── InvalidKeyError         a resource key that cannot name a resource (empty name, bad token)
 ├── EventDecodeError        bytes on the log that are not a valid event (quarantined by projections)
 └── EventStoreError         the store refused or could not complete an operation
      ├── ConflictError      an expected revision did not match the resource's last revision
      ├── EventTooLargeError an event bigger than NATS takes in one message (nothing of its batch is written)
      └── StoreUnavailableError  NATS could not be reached (the CLI maps it to exit code 3)
           └── AccessDeniedError NATS refused egd's credentials, TLS, or the permission for a subject
"""

from __future__ import annotations


class EventError(Exception):
    """Base of every error the `events` package raises."""


class InvalidKeyError(EventError, ValueError):
    """A resource key or subject that cannot name a resource."""


class EventDecodeError(EventError):
    """Bytes on the log that do not decode or validate as an event."""


class EventStoreError(EventError):
    """The event store refused or could not complete an operation."""


class ConflictError(EventStoreError):
    """A write carried an expected revision that is no longer the resource's last revision."""

    def __init__(self, subject: str, expected_revision: int, detail: str = "") -> None:
        self.subject = subject
        self.expected_revision = expected_revision
        message = f"conflict on {subject}: expected revision {expected_revision} is stale"
        super().__init__(f"{message} ({detail})" if detail else message)


class EventTooLargeError(EventStoreError):
    """An event bigger than the NATS server takes in one message (its `max_payload`)."""


class StoreUnavailableError(EventStoreError):
    """The store (NATS JetStream) cannot be reached."""


class AccessDeniedError(StoreUnavailableError):
    """NATS refused the credentials or the TLS handshake, or the connection's user lacks the permission to
    publish or subscribe on a subject. Retrying does not help: the message names what to fix."""
