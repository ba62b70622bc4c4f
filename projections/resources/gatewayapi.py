"""Gateway API kinds (gateway.networking.k8s.io v1, v1beta1, v1alpha2 and v1alpha3).

The models name the fields translation reads; defaults follow the Gateway API CRDs (a parentRef's group is
`gateway.networking.k8s.io` and kind `Gateway`, a backendRef's kind is `Service` and weight 1, ...).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from projections.resources.meta import K8sModel, K8sObject, LabelSelector
from projections.resources.policy import GATEWAY_API_GROUP, LocalPolicyTargetReferenceWithSectionName
from projections.resources.quantities import Duration, Hostname, Port, PositiveUInt32, PreciseHostname, UInt32
from projections.resources.references import BackendRef, LocalObjectReference, SecretObjectReference
from projections.resources.registry import KindInfo

GROUP = GATEWAY_API_GROUP


# --- shared pieces -------------------------------------------------------------------------------------------


class ParentReference(K8sModel, frozen=True, kw_only=True):
    name: str
    group: str = GROUP
    kind: str = "Gateway"
    namespace: str | None = None
    section_name: str | None = None
    port: Port | None = None


# --- GatewayClass --------------------------------------------------------------------------------------------


class ParametersReference(K8sModel, frozen=True, kw_only=True):
    group: str
    kind: str
    name: str
    namespace: str | None = None


class GatewayClassSpec(K8sModel, frozen=True, kw_only=True):
    controller_name: str
    parameters_ref: ParametersReference | None = None
    description: str | None = None


class GatewayClass(K8sObject, frozen=True, kw_only=True):
    spec: GatewayClassSpec


# --- Gateway -------------------------------------------------------------------------------------------------


class RouteGroupKind(K8sModel, frozen=True, kw_only=True):
    kind: str
    group: str = GROUP


class RouteNamespaces(K8sModel, frozen=True, kw_only=True):
    from_: str = msgspec.field(default="Same", name="from")  # All, Same, Selector
    selector: LabelSelector | None = None


class AllowedRoutes(K8sModel, frozen=True, kw_only=True):
    namespaces: RouteNamespaces = RouteNamespaces()
    kinds: tuple[RouteGroupKind, ...] = ()


class GatewayTLSConfig(K8sModel, frozen=True, kw_only=True):
    mode: str = "Terminate"  # Terminate, Passthrough
    certificate_refs: tuple[SecretObjectReference, ...] = ()
    options: dict[str, str] = {}


class Listener(K8sModel, frozen=True, kw_only=True):
    name: str
    port: Port
    protocol: str  # HTTP, HTTPS, TLS, TCP, UDP
    hostname: Hostname | None = None
    tls: GatewayTLSConfig | None = None
    allowed_routes: AllowedRoutes = AllowedRoutes()


class GatewayAddress(K8sModel, frozen=True, kw_only=True):
    value: str
    type: str = "IPAddress"


class LocalParametersReference(K8sModel, frozen=True, kw_only=True):
    group: str
    kind: str
    name: str


class GatewayInfrastructure(K8sModel, frozen=True, kw_only=True):
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    parameters_ref: LocalParametersReference | None = None


class GatewaySpec(K8sModel, frozen=True, kw_only=True):
    gateway_class_name: str
    listeners: tuple[Listener, ...]
    addresses: tuple[GatewayAddress, ...] = ()
    infrastructure: GatewayInfrastructure | None = None

    def __post_init__(self) -> None:  # Gateway API's CEL rule: routes and policies name listeners
        names = [listener.name for listener in self.listeners]
        if len(set(names)) != len(names):
            raise ValueError("Listener name must be unique within the Gateway")


class Gateway(K8sObject, frozen=True, kw_only=True):
    spec: GatewaySpec


# --- HTTPRoute -----------------------------------------------------------------------------------------------


class HTTPPathMatch(K8sModel, frozen=True, kw_only=True):
    type: str = "PathPrefix"  # Exact, PathPrefix, RegularExpression
    value: str = "/"


class HTTPHeaderMatch(K8sModel, frozen=True, kw_only=True):
    name: str
    value: str
    type: str = "Exact"  # Exact, RegularExpression


class HTTPQueryParamMatch(K8sModel, frozen=True, kw_only=True):
    name: str
    value: str
    type: str = "Exact"


class HTTPRouteMatch(K8sModel, frozen=True, kw_only=True):
    path: HTTPPathMatch | None = None
    headers: tuple[HTTPHeaderMatch, ...] = ()
    query_params: tuple[HTTPQueryParamMatch, ...] = ()
    method: str | None = None


class HTTPHeader(K8sModel, frozen=True, kw_only=True):
    name: str
    value: str


class HTTPHeaderFilter(K8sModel, frozen=True, kw_only=True):
    set: tuple[HTTPHeader, ...] = ()
    add: tuple[HTTPHeader, ...] = ()
    remove: tuple[str, ...] = ()


class HTTPPathModifier(K8sModel, frozen=True, kw_only=True):
    type: Literal["ReplaceFullPath", "ReplacePrefixMatch"]
    replace_full_path: str | None = None
    replace_prefix_match: str | None = None

    def __post_init__(self) -> None:  # Gateway API's CEL rules (the API server's, where there is one)
        if (self.type == "ReplaceFullPath") != (self.replace_full_path is not None):
            raise ValueError("replaceFullPath must be specified when type is set to 'ReplaceFullPath', and only then")
        if (self.type == "ReplacePrefixMatch") != (self.replace_prefix_match is not None):
            raise ValueError(
                "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch', and only then"
            )


class HTTPRequestRedirectFilter(K8sModel, frozen=True, kw_only=True):
    scheme: Literal["http", "https"] | None = None
    hostname: PreciseHostname | None = None
    path: HTTPPathModifier | None = None
    port: Port | None = None
    status_code: Literal[301, 302, 303, 307, 308] = 302


class HTTPURLRewriteFilter(K8sModel, frozen=True, kw_only=True):
    hostname: PreciseHostname | None = None
    path: HTTPPathModifier | None = None


class Fraction(K8sModel, frozen=True, kw_only=True):
    numerator: UInt32
    denominator: PositiveUInt32 = 100

    def __post_init__(self) -> None:
        if self.numerator > self.denominator:
            raise ValueError("numerator must be less than or equal to denominator")


class HTTPRequestMirrorFilter(K8sModel, frozen=True, kw_only=True):
    backend_ref: BackendRef
    percent: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    fraction: Fraction | None = None


# filter type -> the field that configures it (`HTTPRouteFilter`); other types are translated as unsupported
_FILTER_FIELDS = {
    "RequestHeaderModifier": "requestHeaderModifier",
    "ResponseHeaderModifier": "responseHeaderModifier",
    "RequestMirror": "requestMirror",
    "RequestRedirect": "requestRedirect",
    "URLRewrite": "urlRewrite",
    "ExtensionRef": "extensionRef",
}
_UNREPEATABLE = ("RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite")


class HTTPRouteFilter(K8sModel, frozen=True, kw_only=True):
    type: str  # RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, RequestRedirect, URLRewrite, ExtensionRef
    request_header_modifier: HTTPHeaderFilter | None = None
    response_header_modifier: HTTPHeaderFilter | None = None
    request_mirror: HTTPRequestMirrorFilter | None = None
    request_redirect: HTTPRequestRedirectFilter | None = None
    url_rewrite: HTTPURLRewriteFilter | None = None
    extension_ref: LocalObjectReference | None = None

    def __post_init__(self) -> None:  # Gateway API's CEL rules
        configured = {
            "requestHeaderModifier": self.request_header_modifier,
            "responseHeaderModifier": self.response_header_modifier,
            "requestMirror": self.request_mirror,
            "requestRedirect": self.request_redirect,
            "urlRewrite": self.url_rewrite,
            "extensionRef": self.extension_ref,
        }
        own = _FILTER_FIELDS.get(self.type)
        if own is not None and configured[own] is None:
            raise ValueError(f"filter.{own} must be specified for {self.type} filter.type")
        for field, value in configured.items():
            if value is not None and field != own:
                raise ValueError(f"filter.{field} must be nil if the filter.type is not {_type_of(field)}")


def _type_of(field: str) -> str:
    return next(kind for kind, configured in _FILTER_FIELDS.items() if configured == field)


def _path_modifiers(filters: tuple[HTTPRouteFilter, ...]) -> list[tuple[str, HTTPPathModifier]]:
    found = [("RequestRedirect", f.request_redirect.path) for f in filters if f.request_redirect is not None]
    found += [("URLRewrite", f.url_rewrite.path) for f in filters if f.url_rewrite is not None]
    return [(kind, path) for kind, path in found if path is not None]


def check_filters(filters: tuple[HTTPRouteFilter, ...], *, redirects: bool = True) -> None:
    """Gateway API's CEL rules on a list of filters: a redirect or a rewrite, not both; no repeated modifier."""
    kinds = [f.type for f in filters]
    if redirects and "RequestRedirect" in kinds and "URLRewrite" in kinds:
        raise ValueError("may specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, not both")
    for kind in _UNREPEATABLE:
        if kinds.count(kind) > 1:
            raise ValueError(f"{kind} filter cannot be repeated")


class HTTPBackendRef(BackendRef, frozen=True, kw_only=True):
    filters: tuple[HTTPRouteFilter, ...] = ()

    def __post_init__(self) -> None:
        check_filters(self.filters)


class HTTPRouteTimeouts(K8sModel, frozen=True, kw_only=True):
    request: str | None = None
    backend_request: str | None = None


class CookieConfig(K8sModel, frozen=True, kw_only=True):
    lifetime_type: Literal["Permanent", "Session"] = "Session"


class SessionPersistence(K8sModel, frozen=True, kw_only=True):
    """Requests of one session go to the same endpoint; the session is kept in a cookie or a header."""

    session_name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    absolute_timeout: Duration | None = None
    idle_timeout: Duration | None = None
    type: Literal["Cookie", "Header"] = "Cookie"
    cookie_config: CookieConfig | None = None


class HTTPRouteRule(K8sModel, frozen=True, kw_only=True):
    name: str | None = None
    matches: tuple[HTTPRouteMatch, ...] = ()
    filters: tuple[HTTPRouteFilter, ...] = ()
    backend_refs: tuple[HTTPBackendRef, ...] = ()
    timeouts: HTTPRouteTimeouts | None = None
    session_persistence: SessionPersistence | None = None

    def __post_init__(self) -> None:  # Gateway API's CEL rules
        check_filters(self.filters)
        if self.backend_refs and any(f.type == "RequestRedirect" for f in self.filters):
            raise ValueError("RequestRedirect filter must not be used together with backendRefs")
        for kind, path in _path_modifiers(self.filters):
            if path.type != "ReplacePrefixMatch":
                continue
            # no match at all is the default one: a PathPrefix of `/`
            one_prefix = len(self.matches) <= 1 and all(
                m.path is None or m.path.type == "PathPrefix" for m in self.matches
            )
            if not one_prefix:
                raise ValueError(
                    f"When using {kind} filter with path.replacePrefixMatch, exactly one PathPrefix match must be "
                    "specified"
                )


class HTTPRouteSpec(K8sModel, frozen=True, kw_only=True):
    parent_refs: tuple[ParentReference, ...] = ()
    hostnames: tuple[Hostname, ...] = ()
    rules: tuple[HTTPRouteRule, ...] = (HTTPRouteRule(),)


class HTTPRoute(K8sObject, frozen=True, kw_only=True):
    spec: HTTPRouteSpec


# --- GRPCRoute -----------------------------------------------------------------------------------------------


class GRPCMethodMatch(K8sModel, frozen=True, kw_only=True):
    type: str = "Exact"  # Exact, RegularExpression
    service: str | None = None
    method: str | None = None


class GRPCHeaderMatch(K8sModel, frozen=True, kw_only=True):
    name: str
    value: str
    type: str = "Exact"


class GRPCRouteMatch(K8sModel, frozen=True, kw_only=True):
    method: GRPCMethodMatch | None = None
    headers: tuple[GRPCHeaderMatch, ...] = ()


class GRPCBackendRef(BackendRef, frozen=True, kw_only=True):
    filters: tuple[HTTPRouteFilter, ...] = ()

    def __post_init__(self) -> None:
        check_filters(self.filters, redirects=False)


class GRPCRouteRule(K8sModel, frozen=True, kw_only=True):
    name: str | None = None
    matches: tuple[GRPCRouteMatch, ...] = ()
    filters: tuple[HTTPRouteFilter, ...] = ()
    backend_refs: tuple[GRPCBackendRef, ...] = ()
    session_persistence: SessionPersistence | None = None

    def __post_init__(self) -> None:
        check_filters(self.filters, redirects=False)


class GRPCRouteSpec(K8sModel, frozen=True, kw_only=True):
    parent_refs: tuple[ParentReference, ...] = ()
    hostnames: tuple[Hostname, ...] = ()
    rules: tuple[GRPCRouteRule, ...] = (GRPCRouteRule(),)


class GRPCRoute(K8sObject, frozen=True, kw_only=True):
    spec: GRPCRouteSpec


# --- TLSRoute, TCPRoute, UDPRoute ----------------------------------------------------------------------------


class L4RouteRule(K8sModel, frozen=True, kw_only=True):
    name: str | None = None
    backend_refs: tuple[BackendRef, ...] = ()


class TLSRouteSpec(K8sModel, frozen=True, kw_only=True):
    parent_refs: tuple[ParentReference, ...] = ()
    hostnames: tuple[Hostname, ...] = ()
    rules: tuple[L4RouteRule, ...] = ()


class TLSRoute(K8sObject, frozen=True, kw_only=True):
    spec: TLSRouteSpec


class L4RouteSpec(K8sModel, frozen=True, kw_only=True):
    parent_refs: tuple[ParentReference, ...] = ()
    rules: tuple[L4RouteRule, ...] = ()


class TCPRoute(K8sObject, frozen=True, kw_only=True):
    spec: L4RouteSpec


class UDPRoute(K8sObject, frozen=True, kw_only=True):
    spec: L4RouteSpec


# --- ReferenceGrant ------------------------------------------------------------------------------------------


class ReferenceGrantFrom(K8sModel, frozen=True, kw_only=True):
    group: str
    kind: str
    namespace: str


class ReferenceGrantTo(K8sModel, frozen=True, kw_only=True):
    group: str
    kind: str
    name: str | None = None


class ReferenceGrantSpec(K8sModel, frozen=True, kw_only=True):
    from_: tuple[ReferenceGrantFrom, ...] = msgspec.field(name="from")
    to: tuple[ReferenceGrantTo, ...]


class ReferenceGrant(K8sObject, frozen=True, kw_only=True):
    spec: ReferenceGrantSpec


# --- BackendTLSPolicy ----------------------------------------------------------------------------------------


class SubjectAltName(K8sModel, frozen=True, kw_only=True):
    type: str  # Hostname, URI
    hostname: str | None = None
    uri: str | None = None


class BackendTLSPolicyValidation(K8sModel, frozen=True, kw_only=True):
    hostname: str
    ca_certificate_refs: tuple[LocalObjectReference, ...] = ()
    well_known_ca_certificates: str | None = msgspec.field(default=None, name="wellKnownCACertificates")  # System
    subject_alt_names: tuple[SubjectAltName, ...] = ()


class BackendTLSPolicySpec(K8sModel, frozen=True, kw_only=True):
    target_refs: tuple[LocalPolicyTargetReferenceWithSectionName, ...]
    validation: BackendTLSPolicyValidation
    options: dict[str, str] = {}


class BackendTLSPolicy(K8sObject, frozen=True, kw_only=True):
    spec: BackendTLSPolicySpec


def _kind(kind: str, plural: str, model: type[msgspec.Struct], versions: tuple[str, ...], *short: str) -> KindInfo:
    return KindInfo(
        group=GROUP,
        versions=versions,
        kind=kind,
        plural=plural,
        namespaced=kind != "GatewayClass",
        model=model,
        short_names=short,
    )


KINDS = [
    _kind("GatewayClass", "gatewayclasses", GatewayClass, ("v1", "v1beta1"), "gc"),
    _kind("Gateway", "gateways", Gateway, ("v1", "v1beta1"), "gtw"),
    _kind("HTTPRoute", "httproutes", HTTPRoute, ("v1", "v1beta1")),
    _kind("GRPCRoute", "grpcroutes", GRPCRoute, ("v1", "v1alpha2")),
    _kind("ReferenceGrant", "referencegrants", ReferenceGrant, ("v1beta1", "v1", "v1alpha2"), "refgrant"),
    _kind("TLSRoute", "tlsroutes", TLSRoute, ("v1alpha2", "v1alpha3")),
    _kind("TCPRoute", "tcproutes", TCPRoute, ("v1alpha2",)),
    _kind("UDPRoute", "udproutes", UDPRoute, ("v1alpha2",)),
    _kind("BackendTLSPolicy", "backendtlspolicies", BackendTLSPolicy, ("v1", "v1alpha3"), "btlspolicy"),
]
