"""The error a user gets when a server of the daemon cannot listen (kept apart from the servers, so that the
command line can name it without importing gRPC)."""

from __future__ import annotations


class CannotListenError(OSError):
    """A server of the daemon cannot listen on the address it was given (in use, or not of this host)."""
