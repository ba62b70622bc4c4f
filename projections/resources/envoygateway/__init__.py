"""Envoy Gateway kinds (gateway.envoyproxy.io/v1alpha1), one module per kind; shared parts in `cluster`,
`ratelimit` and `tls`; references to other objects are Gateway API's (`projections.resources.references`)."""

from __future__ import annotations

import msgspec

from projections.resources.envoygateway.backend import Backend
from projections.resources.envoygateway.backendtrafficpolicy import BackendTrafficPolicy
from projections.resources.envoygateway.clienttrafficpolicy import ClientTrafficPolicy
from projections.resources.envoygateway.envoyextensionpolicy import EnvoyExtensionPolicy
from projections.resources.envoygateway.envoypatchpolicy import EnvoyPatchPolicy
from projections.resources.envoygateway.envoyproxy import EnvoyProxy
from projections.resources.envoygateway.httproutefilter import HTTPRouteFilter
from projections.resources.envoygateway.securitypolicy import SecurityPolicy
from projections.resources.registry import KindInfo

GROUP = "gateway.envoyproxy.io"


def _kind(model: type[msgspec.Struct], kind: str, plural: str, *short_names: str) -> KindInfo:
    return KindInfo(
        group=GROUP,
        versions=("v1alpha1",),
        kind=kind,
        plural=plural,
        namespaced=True,
        model=model,
        short_names=short_names,
    )


KINDS = [
    _kind(Backend, "Backend", "backends", "be"),
    _kind(BackendTrafficPolicy, "BackendTrafficPolicy", "backendtrafficpolicies", "btp"),
    _kind(ClientTrafficPolicy, "ClientTrafficPolicy", "clienttrafficpolicies", "ctp"),
    _kind(SecurityPolicy, "SecurityPolicy", "securitypolicies", "sp"),
    _kind(EnvoyProxy, "EnvoyProxy", "envoyproxies", "eproxy"),
    _kind(HTTPRouteFilter, "HTTPRouteFilter", "httproutefilters", "hrf"),
    _kind(EnvoyPatchPolicy, "EnvoyPatchPolicy", "envoypatchpolicies", "epp"),
    _kind(EnvoyExtensionPolicy, "EnvoyExtensionPolicy", "envoyextensionpolicies", "eep"),
]

__all__ = [
    "GROUP",
    "KINDS",
    "Backend",
    "BackendTrafficPolicy",
    "ClientTrafficPolicy",
    "EnvoyExtensionPolicy",
    "EnvoyPatchPolicy",
    "EnvoyProxy",
    "HTTPRouteFilter",
    "SecurityPolicy",
]
