"""Every Prometheus metric egd exports; all prefixed `egd_`, all with bounded label sets."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """One registry per daemon, so that tests can run several daemons in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_folded = Counter(
            "egd_events_folded", "Log records folded into the state projection", registry=self.registry
        )
        self.events_quarantined = Counter(
            "egd_events_quarantined",
            "Log records that are not valid events, kept but not folded",
            registry=self.registry,
        )
        self.folded_seq = Gauge(
            "egd_folded_sequence", "Stream sequence of the last folded record", registry=self.registry
        )
        self.stream_seq = Gauge(
            "egd_stream_sequence", "Last stream sequence known to the follower", registry=self.registry
        )
        self.objects = Gauge("egd_objects", "Objects in the current state", registry=self.registry)
        self.fold_seconds = Histogram(
            "egd_fold_batch_seconds",
            "Time to fold one batch of records",
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0),
            registry=self.registry,
        )
        self.nats_reconnects = Counter("egd_nats_reconnects", "Reconnections to NATS", registry=self.registry)
