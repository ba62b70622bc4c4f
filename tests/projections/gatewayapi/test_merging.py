"""`mergeType: JSONMerge` is RFC 7386 merge patch: the examples of the RFC's appendix A. `StrategicMerge` is
Kubernetes' strategic merge patch over Envoy Gateway's types: the lists they mark merge by key."""

from __future__ import annotations

import pytest

from projections.gatewayapi.merging import merge_patch, strategic_merge_patch

RFC_7386_EXAMPLES: list[tuple[object, object, object]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7386_EXAMPLES)
def test_merge_patch_follows_rfc_7386(target: object, patch: object, result: object) -> None:
    assert merge_patch(target, patch) == result


def test_strategic_merge_merges_marked_lists_by_key() -> None:
    parent = {
        "compressor": [{"type": "Gzip", "gzip": {"memoryLevel": 5}}, {"type": "Zstd"}],
        "httpUpgrade": [{"type": "websocket"}],
        "retry": {"numRetries": 2, "retryOn": {"triggers": ["reset", "connect-failure"]}},
        "timeout": {"http": {"requestTimeout": "7s"}},
    }
    route = {
        "compressor": [{"type": "Brotli"}, {"type": "Gzip", "gzip": {"compressionLevel": 9}}],
        "httpUpgrade": [{"type": "CONNECT"}],
        "retry": {"retryOn": {"triggers": ["5xx"]}},
        "timeout": None,
    }
    assert strategic_merge_patch(parent, route) == {
        # the parent's order, each merged with the route's element of the same type; the others appended
        "compressor": [
            {"type": "Gzip", "gzip": {"memoryLevel": 5, "compressionLevel": 9}},
            {"type": "Zstd"},
            {"type": "Brotli"},
        ],
        "httpUpgrade": [{"type": "websocket"}, {"type": "CONNECT"}],
        # unmarked lists are replaced, objects merged, null deletes: as JSONMerge
        "retry": {"numRetries": 2, "retryOn": {"triggers": ["5xx"]}},
    }


def test_strategic_merge_takes_a_marked_list_the_parent_lacks() -> None:
    assert strategic_merge_patch({}, {"httpUpgrade": ({"type": "CONNECT"},)}) == {"httpUpgrade": ({"type": "CONNECT"},)}
