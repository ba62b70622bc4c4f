"""Offline translation (`egd translate`): documents in, statuses and IR out, no log and no daemon.

Every document is stamped as changed at the Unix epoch, so the output is the same on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

from projections import ir
from projections.gatewayapi.inputs import Resource, decode_input
from projections.gatewayapi.options import TranslateOptions
from projections.gatewayapi.patches import with_outcomes
from projections.gatewayapi.translator import Translation, translate
from projections.resources.kinds import REGISTRY

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OUTPUT_TYPES = ("status", "ir", "all")


def resources_from_documents(documents: Iterable[tuple[Any, str]]) -> list[Resource]:
    """Decode `(document, position)` pairs; raises InvalidDocumentError naming the first bad one."""
    resources = []
    for document, position in documents:
        metadata = document.get("metadata") if isinstance(document, dict) else None
        generation = metadata.get("generation", 1) if isinstance(metadata, dict) else 1
        generation = generation if isinstance(generation, int) else 1
        created = _created_at(metadata.get("creationTimestamp") if isinstance(metadata, dict) else None)
        resources.append(decode_input(document, position, generation=generation, changed_at=EPOCH, created_at=created))
    return resources


def _created_at(stamp: object) -> datetime | None:
    """A document's `metadata.creationTimestamp` (as `egd get` writes it), if it has a valid one."""
    if not isinstance(stamp, str):
        return None
    try:
        created = datetime.fromisoformat(stamp.upper().replace("Z", "+00:00"))
    except ValueError:
        return None
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def status_documents(translation: Translation) -> list[dict[str, Any]]:
    """Every status as a Kubernetes-style object: apiVersion, kind, metadata and status."""
    out = []
    for key, status in translation.statuses.items():
        info = REGISTRY.by_kind(key.kind)
        metadata = {"name": key.name, "namespace": key.namespace} if key.namespace else {"name": key.name}
        out.append(
            {
                "apiVersion": info.api_version if info else key.group,
                "kind": key.kind,
                "metadata": metadata,
                "status": msgspec.to_builtins(status),
            }
        )
    return out


def translation_output(translation: Translation, output_type: str = "all") -> dict[str, Any]:
    """The plain data `egd translate` prints for `output_type` (status, ir or all)."""
    out: dict[str, Any] = {}
    if output_type in ("status", "all"):
        out["statuses"] = status_documents(translation)
    if output_type in ("ir", "all"):
        out["ir"] = [msgspec.to_builtins(gateway) for gateway in translation.gateways.values()]
    return out


PatchOutcomes = Callable[[ir.GatewayIR], dict[str, str | None]]


def translate_documents(
    documents: Iterable[tuple[Any, str]],
    output_type: str = "all",
    options: TranslateOptions | None = None,
    patch_outcomes: PatchOutcomes | None = None,
) -> dict[str, Any]:
    """`patch_outcomes` gives, from the xDS stage, how each Gateway's EnvoyPatchPolicies applied (their
    `Programmed` condition); without it they show `Accepted` only."""
    translation = translate(resources_from_documents(documents), options)
    if patch_outcomes is not None:
        outcomes: dict[str, str | None] = {}
        for gateway in translation.gateways.values():
            if gateway.envoy_patches:
                outcomes.update(patch_outcomes(gateway))
        if outcomes:
            translation = Translation(
                gateways=translation.gateways, statuses=with_outcomes(translation.statuses, outcomes)
            )
    return translation_output(translation, output_type)
