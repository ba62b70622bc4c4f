"""Per-stream CPU of one route changed in a Gateway of 10,000 virtual hosts (VHDS), in process: what one delta
stream subscribed as Envoy is (clusters, endpoints, listeners, route configurations, virtual hosts) spends
to find and build its response, with the set's revision (only changed names evaluated) and without (every
resource evaluated, as before `projections.xds.history`). The fan-out to N streams costs about N times this.

Run: python3 -m pytest tests/bench/test_xds_delta_stream_bench.py -o addopts="" -s
"""

from __future__ import annotations

import gc
import time

from projections.xds.delta import DeltaStream
from projections.xds.history import ResourceHistory
from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    VIRTUAL_HOST,
    ResourceSet,
)
from projections.xds.translate import XdsTranslator
from tests.bench.conftest import report
from tests.bench.test_xds_translate_bench import gateway_ir, one_route_changed

GROUP = "default/gw"
VIRTUAL_HOSTS = 10_000
STREAMS = 20
ROUNDS = 15


def envoy_stream(resources: ResourceSet) -> DeltaStream:
    stream = DeltaStream()
    stream.apply_request(type_url=CLUSTER)
    stream.apply_request(type_url=LISTENER)
    stream.apply_request(type_url=CLUSTER_LOAD_ASSIGNMENT, subscribe=sorted(resources.of_type(CLUSTER_LOAD_ASSIGNMENT)))
    stream.apply_request(
        type_url=ROUTE_CONFIGURATION, subscribe=sorted(resources.of_type(ROUTE_CONFIGURATION, delta=True))
    )
    stream.apply_request(type_url=VIRTUAL_HOST)
    return stream


def answered(stream: DeltaStream, resources: ResourceSet, history: ResourceHistory | None) -> int:
    """Every response due, each ACKed at once; how many."""
    revision = history.revision_of(resources) if history is not None else None
    sent = 0
    while (response := stream.next_response(resources, 100.0, revision)) is not None:
        stream.apply_request(type_url=response.type_url, response_nonce=response.nonce)
        sent += 1
    return sent


def per_stream_seconds(with_revision: bool) -> list[float]:
    translator = XdsTranslator()
    gateway = gateway_ir(VIRTUAL_HOSTS, 1)
    update = translator.apply(gateway)
    history = ResourceHistory() if with_revision else None
    if history is not None:
        history.record(GROUP, update.resources, update.delta_changes)
    streams = [envoy_stream(update.resources) for _ in range(STREAMS)]
    for stream in streams:
        answered(stream, update.resources, history)
    samples = []
    gc.disable()
    try:
        for round_number in range(ROUNDS):
            gateway = one_route_changed(gateway, round_number, 1)
            update = translator.apply(gateway)
            assert list(update.delta_changes) == [VIRTUAL_HOST]
            if history is not None:
                history.record(GROUP, update.resources, update.delta_changes)
            for stream in streams:
                started = time.thread_time()
                sent = answered(stream, update.resources, history)
                samples.append(time.thread_time() - started)
                assert sent == 1
    finally:
        gc.enable()
    return samples


def test_per_stream_cost_of_one_route_changed_among_10000_virtual_hosts() -> None:
    for with_revision, label in ((False, "every resource evaluated"), (True, "changed names evaluated")):
        microseconds = [s * 1e6 for s in per_stream_seconds(with_revision)]
        name = f"per-stream CPU, one route changed among {VIRTUAL_HOSTS} virtual hosts, {label}"
        report(name, microseconds, "µs", better="lower")
