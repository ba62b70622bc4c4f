"""What a deployment chooses about translation (Envoy Gateway's EnvoyGateway configuration, in part)."""

from __future__ import annotations

import msgspec


class TranslateOptions(msgspec.Struct, frozen=True, kw_only=True):
    envoy_patch_policy: bool = False
    """Apply EnvoyPatchPolicies (`--enable-envoy-patch-policy`); off, as in Envoy Gateway: they are accepted as
    documents but get `Accepted=False`, reason `Disabled`, and change nothing."""
