"""Every Prometheus metric egd exports; all prefixed `egd_`, all with bounded label sets."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)


class Metrics:
    """One registry per daemon, so that tests can run several daemons in one process."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.events_folded = Counter("egd_events_folded", "Log records folded into the state", registry=r)
        self.events_quarantined = Counter(
            "egd_events_quarantined", "Log records that are not valid events, kept but not folded", registry=r
        )
        self.folded_seq = Gauge("egd_folded_sequence", "Stream sequence of the last folded record", registry=r)
        self.stream_seq = Gauge("egd_stream_sequence", "Last stream sequence known to the follower", registry=r)
        self.fold_lag = Gauge("egd_fold_lag", "Stream sequence minus folded sequence", registry=r)
        self.snapshot_seq = Gauge(
            "egd_snapshot_sequence", "Sequence of the last snapshot written or loaded", registry=r
        )
        self.snapshot_age = Gauge("egd_snapshot_age_seconds", "Seconds since the last snapshot was written", registry=r)
        self.objects = Gauge("egd_objects", "Objects in the current state", registry=r)
        self.translate_seconds = Histogram(
            "egd_translate_seconds", "Time to fold and translate one live event", buckets=_FAST_BUCKETS, registry=r
        )
        self.xds_build_seconds = Histogram(
            "egd_xds_build_seconds", "Time to build one Gateway's xDS resources", buckets=_FAST_BUCKETS, registry=r
        )
        self.translation_failures = Counter(
            "egd_translation_failures",
            "Translations that raised (Envoys keep their configuration; the next one translates everything)",
            registry=r,
        )
        self.xds_build_failures = Counter(
            "egd_xds_build_failures",
            "Builds of a Gateway's xDS resources that failed (its Envoys keep their last configuration)",
            ["gateway"],
            registry=r,
        )
        self.xds_responses = Counter("egd_xds_responses", "xDS responses sent", ["variant", "type"], registry=r)
        self.xds_response_bytes = Counter(
            "egd_xds_response_bytes", "Bytes of xDS responses sent", ["variant", "type"], registry=r
        )
        self.xds_resources_sent = Counter(
            "egd_xds_resources_sent", "Resources sent in xDS responses", ["variant", "type"], registry=r
        )
        self.xds_removals_sent = Counter(
            "egd_xds_removals_sent", "Names sent in delta xDS removed_resources", ["variant", "type"], registry=r
        )
        self.xds_acks = Counter("egd_xds_acks", "xDS ACKs received", ["type"], registry=r)
        self.xds_nacks = Counter("egd_xds_nacks", "xDS NACKs received", ["type"], registry=r)
        self.xds_streams = Gauge(
            "egd_xds_streams", "Connected xDS streams per Gateway (node.cluster)", ["variant", "gateway"], registry=r
        )
        self.xds_streams_writing = Gauge(
            "egd_xds_streams_writing", "xDS streams with a response waiting for the client to read it", registry=r
        )
        self.nats_reconnects = Counter("egd_nats_reconnects", "Reconnections to NATS", registry=r)
        self.ratelimit_decisions = Counter(
            "egd_ratelimit_decisions", "ShouldRateLimit answers by overall code", ["code"], registry=r
        )
        self.ratelimit_store_failures = Counter(
            "egd_ratelimit_store_failures",
            "Rate-limit counter store failures (answered by the failure mode)",
            registry=r,
        )
        self.ratelimit_configs = Gauge("egd_ratelimit_configs", "Rate-limit domains configured", registry=r)


def short_type(type_url: str) -> str:
    """`type.googleapis.com/envoy.config.cluster.v3.Cluster` → `Cluster`: a bounded label value."""
    return type_url.rsplit(".", 1)[-1]
