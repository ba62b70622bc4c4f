"""EnvoyExtensionPolicy: Wasm, external processing and Lua extensions for a Gateway or route.

Not translated yet: the model checks the targeting and keeps each extension's settings untyped.
"""

from __future__ import annotations

from projections.resources.meta import K8sObject
from projections.resources.policy import PolicyTargetReferences


class EnvoyExtensionPolicySpec(PolicyTargetReferences, frozen=True, kw_only=True):
    wasm: tuple[dict[str, object], ...] = ()
    ext_proc: tuple[dict[str, object], ...] = ()
    lua: tuple[dict[str, object], ...] = ()


class EnvoyExtensionPolicy(K8sObject, frozen=True, kw_only=True):
    spec: EnvoyExtensionPolicySpec
