"""Projections: pure, synchronous folds of the event log into state, IR, xDS resources and rate limits.

Nothing here does I/O: no asyncio, nats, grpc servers, structlog or prometheus.
"""
