"""EnvoyExtensionPolicy: Lua scripts, external processing and Wasm extensions for a Gateway or route.

Lua and extProc are translated; a Wasm module is fetched host-side by Envoy Gateway, so its settings stay
untyped and the policy reports it cannot honour them.
"""

from __future__ import annotations

from typing import Literal

from projections.resources.envoygateway.cluster import BackendCluster
from projections.resources.meta import K8sModel, K8sObject
from projections.resources.policy import PolicyTargetReferences
from projections.resources.quantities import Duration
from projections.resources.references import LocalObjectReference

BodyMode = Literal["Streamed", "Buffered", "BufferedPartial", "FullDuplexStreamed"]


class Lua(K8sModel, frozen=True, kw_only=True):
    """A Lua script, inline or from a ConfigMap (its `lua` key, else its only key) in the policy's namespace."""

    type: Literal["Inline", "ValueRef"] = "Inline"
    inline: str | None = None
    value_ref: LocalObjectReference | None = None


class ProcessingModeOptions(K8sModel, frozen=True, kw_only=True):
    """Send this direction's headers to the processor; its body too when `body` is set."""

    body: BodyMode | None = None
    attributes: tuple[str, ...] = ()


class ExtProcProcessingMode(K8sModel, frozen=True, kw_only=True):
    request: ProcessingModeOptions | None = None
    response: ProcessingModeOptions | None = None
    allow_mode_override: bool = False


class ExtProcMetadata(K8sModel, frozen=True, kw_only=True):
    accessible_namespaces: tuple[str, ...] = ()
    writable_namespaces: tuple[str, ...] = ()


class ExtProc(BackendCluster, frozen=True, kw_only=True):
    """An external processor (gRPC `envoy.service.ext_proc.v3.ExternalProcessor`) reached by `backendRefs`."""

    message_timeout: Duration | None = None
    fail_open: bool | None = None
    processing_mode: ExtProcProcessingMode | None = None
    metadata: ExtProcMetadata | None = None


class EnvoyExtensionPolicySpec(PolicyTargetReferences, frozen=True, kw_only=True):
    wasm: tuple[dict[str, object], ...] = ()
    ext_proc: tuple[ExtProc, ...] = ()
    lua: tuple[Lua, ...] = ()


class EnvoyExtensionPolicy(K8sObject, frozen=True, kw_only=True):
    spec: EnvoyExtensionPolicySpec
