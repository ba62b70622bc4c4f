"""Load + decode of 10,000 objects from one file (`egd apply -f` input), YAML and JSON.

Run: python3 -m pytest tests/bench/test_documents_bench.py -o addopts="" -s
Uses HTTPRoute when the Gateway API models are registered, else Service (a core kind of similar shape).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import yaml

from egd.documents import decode_documents, read_documents
from projections.resources.kinds import REGISTRY

COUNT = 10_000
ROUNDS = 5


def route(i: int) -> dict[str, object]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": f"route-{i}", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "parentRefs": [{"name": "eg", "sectionName": "http"}],
            "hostnames": [f"app-{i}.example.com"],
            "rules": [
                {
                    "matches": [
                        {
                            "path": {"type": "PathPrefix", "value": f"/api/{i}"},
                            "headers": [{"name": "x-version", "value": "v1"}],
                        }
                    ],
                    "backendRefs": [
                        {"name": f"backend-{i}", "port": 8080, "weight": 90},
                        {"name": "backend-canary", "port": 8080, "weight": 10},
                    ],
                }
            ],
        },
    }


def service(i: int) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"svc-{i}", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": f"web-{i}"},
            "ports": [
                {"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP", "appProtocol": "http"},
                {"name": "grpc", "port": 9090, "targetPort": "grpc"},
            ],
        },
    }


def measure(path: Path) -> list[float]:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        resources = decode_documents(read_documents(str(path)))
        times.append(time.perf_counter() - start)
        assert len(resources) == COUNT
    return times


def report(label: str, times: list[float]) -> None:
    print(
        f"{label}: median {statistics.median(times) * 1000:.0f} ms "
        f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, {ROUNDS} rounds)"
    )


def test_load_and_decode_10000_objects(tmp_path: Path) -> None:
    make = route if REGISTRY.by_kind("HTTPRoute") is not None else service
    docs = [make(i) for i in range(COUNT)]
    yaml_path = tmp_path / "objects.yaml"
    yaml_path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    json_path = tmp_path / "objects.json"
    json_path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
    kind = docs[0]["kind"]
    print(
        f"\n{COUNT} {kind}s: YAML {yaml_path.stat().st_size / 1e6:.1f} MB, JSON {json_path.stat().st_size / 1e6:.1f} MB"
    )
    report(f"YAML load+decode ({'CSafeLoader' if hasattr(yaml, 'CSafeLoader') else 'SafeLoader'})", measure(yaml_path))
    report("JSON load+decode (msgspec)", measure(json_path))
    sourced = read_documents(str(json_path))
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        decode_documents(sourced)
        times.append(time.perf_counter() - start)
    report("decode only", times)
