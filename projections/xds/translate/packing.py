"""Messages packed into `Any`, as every typed config of Envoy's resources is."""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2


def packed(message: Any) -> Any:
    """`message` in an Any, serialised deterministically: maps (JWT providers, RBAC policies, Structs, JSON
    formats) in a fixed order, so that equal configurations give equal bytes and versions."""
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)
    return packed
