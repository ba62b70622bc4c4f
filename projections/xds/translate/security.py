"""SecurityPolicy in Envoy: the HTTP filters of a connection manager and each route's configuration of them.

Envoy Gateway's layout: the connection manager of a listener holds the filters its routes need, in Envoy
Gateway's order (cors, ext_authz, api_key_auth, basic_auth, oauth2, jwt_authn, rbac), those that act by route
disabled there; each route that a policy protects enables and configures them in `typed_per_filter_config`.
So a policy change touches its routes' RouteConfiguration, and the Listener only when the set of filters,
JWT providers or ext_authz services changes. JWT providers and ext_authz services are listener-level in
Envoy; a route picks its requirement (`requirement_name`) or its ext_authz filter (one per policy, named
`envoy.filters.http.ext_authz/<namespace>/<policy>`).

Authorization rules become one RBAC policy set with first-match semantics: rule i matches when its
conditions hold and no earlier rule's do; the default action is a last policy that matches when no rule does.
"""

from __future__ import annotations

import re
from typing import Any

from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2, grpc_service_pb2, http_uri_pb2
from envoy.config.rbac.v3 import rbac_pb2 as rbac_config
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.api_key_auth.v3 import api_key_auth_pb2
from envoy.extensions.filters.http.basic_auth.v3 import basic_auth_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from envoy.type.matcher.v3 import metadata_pb2, regex_pb2, string_pb2, value_pb2
from google.protobuf import duration_pb2, empty_pb2, wrappers_pb2

from projections import ir
from projections.ir import security as sec
from projections.ir.security import remote_jwks_cluster
from projections.xds.translate.clusters import dns_cluster
from projections.xds.translate.names import cluster_name
from projections.xds.translate.oidc import oauth2_filter_name, oauth2_http_filter, oauth2_route_config
from projections.xds.translate.packing import packed

CORS_FILTER = "envoy.filters.http.cors"
EXT_AUTHZ_FILTER = "envoy.filters.http.ext_authz"
API_KEY_FILTER = "envoy.filters.http.api_key_auth"
BASIC_AUTH_FILTER = "envoy.filters.http.basic_auth"
JWT_FILTER = "envoy.filters.http.jwt_authn"
RBAC_FILTER = "envoy.filters.http.rbac"
_CONNECT_TIMEOUT = duration_pb2.Duration(seconds=10)


def _seconds(seconds: int) -> Any:
    return duration_pb2.Duration(seconds=seconds)


def _ms(ms: int) -> Any:
    return duration_pb2.Duration(seconds=ms // 1000, nanos=ms % 1000 * 1_000_000)


def ext_authz_filter_name(ext_auth: sec.ExtAuth) -> str:
    return f"{EXT_AUTHZ_FILTER}/{ext_auth.name}"


def basic_auth_filter_name(forward_username_header: str | None) -> str:
    """The username header is filter-level in Envoy: one basic auth filter per header that routes forward."""
    return f"{BASIC_AUTH_FILTER}/{forward_username_header}" if forward_username_header else BASIC_AUTH_FILTER


# --- the connection manager's filters ------------------------------------------------------------------------


# Envoy needs users in the filter's own config; it is disabled there (each route sets its own users), so these
# never authenticate anyone.
_BASIC_AUTH_DEFAULT = basic_auth_pb2.BasicAuth(
    users=base_pb2.DataSource(inline_string="egd-no-user:{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
)


def security_http_filters(filters: sec.SecurityFilters | None) -> list[Any]:
    """The security filters of a connection manager whose routes need `filters` (before rate limits)."""
    if filters is None:
        return []
    out = []
    if filters.cors:
        out.append(hcm.HttpFilter(name=CORS_FILTER, typed_config=packed(cors_pb2.Cors())))
    for ext_auth in filters.ext_auth:
        out.append(
            hcm.HttpFilter(
                name=ext_authz_filter_name(ext_auth), typed_config=packed(_ext_authz(ext_auth)), disabled=True
            )
        )
    if filters.api_key_auth:
        out.append(
            hcm.HttpFilter(name=API_KEY_FILTER, typed_config=packed(api_key_auth_pb2.ApiKeyAuth()), disabled=True)
        )
    if filters.basic_auth:
        out.append(hcm.HttpFilter(name=BASIC_AUTH_FILTER, typed_config=packed(_BASIC_AUTH_DEFAULT), disabled=True))
    for header in filters.basic_auth_forward:
        config = basic_auth_pb2.BasicAuth(users=_BASIC_AUTH_DEFAULT.users, forward_username_header=header)
        out.append(hcm.HttpFilter(name=basic_auth_filter_name(header), typed_config=packed(config), disabled=True))
    out.extend(oauth2_http_filter(oidc) for oidc in filters.oidc)
    if filters.jwt:
        out.append(hcm.HttpFilter(name=JWT_FILTER, typed_config=packed(_jwt_authentication(filters.jwt))))
    if filters.rbac:
        out.append(hcm.HttpFilter(name=RBAC_FILTER, typed_config=packed(rbac_pb2.RBAC())))
    return out


def _ext_authz(ext_auth: sec.ExtAuth) -> Any:
    config = ext_authz_pb2.ExtAuthz(
        transport_api_version=config_source_pb2.V3,
        failure_mode_allow=ext_auth.fail_open,
        clear_route_cache=ext_auth.recompute_route,
    )
    timeout = _ms(ext_auth.timeout_ms)
    if ext_auth.grpc:
        config.grpc_service.CopyFrom(
            grpc_service_pb2.GrpcService(
                envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(
                    cluster_name=cluster_name(ext_auth.destination, http2=True), authority=ext_auth.authority
                ),
                timeout=timeout,
            )
        )
    else:
        service = config.http_service
        service.server_uri.CopyFrom(
            http_uri_pb2.HttpUri(
                uri=f"http://{ext_auth.authority}{ext_auth.path_prefix}",
                cluster=cluster_name(ext_auth.destination),
                timeout=timeout,
            )
        )
        service.path_prefix = ext_auth.path_prefix
        if ext_auth.headers_to_backend:
            service.authorization_response.allowed_upstream_headers.patterns.extend(
                string_pb2.StringMatcher(exact=h, ignore_case=True) for h in ext_auth.headers_to_backend
            )
    if ext_auth.body_max_bytes is not None:
        config.with_request_body.max_request_bytes = ext_auth.body_max_bytes
    if ext_auth.headers_to_ext_auth:
        config.allowed_headers.patterns.extend(
            string_pb2.StringMatcher(exact=h, ignore_case=True) for h in ext_auth.headers_to_ext_auth
        )
    return config


def _jwt_authentication(jwts: tuple[sec.JWT, ...]) -> Any:
    config = jwt_pb2.JwtAuthentication()
    for jwt in jwts:
        for provider in jwt.providers:
            config.providers[provider.name].CopyFrom(_jwt_provider(provider))
        names = [p.name for p in jwt.providers]
        if len(names) == 1:
            requirement = jwt_pb2.JwtRequirement(provider_name=names[0])
        else:
            requirement = jwt_pb2.JwtRequirement(
                requires_any=jwt_pb2.JwtRequirementOrList(
                    requirements=[jwt_pb2.JwtRequirement(provider_name=n) for n in names]
                )
            )
        if jwt.optional:
            requirement = jwt_pb2.JwtRequirement(
                requires_any=jwt_pb2.JwtRequirementOrList(
                    requirements=[
                        requirement,
                        jwt_pb2.JwtRequirement(allow_missing=empty_pb2.Empty()),
                    ]
                )
            )
        config.requirement_map[jwt.requirement].CopyFrom(requirement)
    return config


def _jwt_provider(provider: sec.JWTProvider) -> Any:
    built = jwt_pb2.JwtProvider(
        issuer=provider.issuer or "",
        audiences=provider.audiences,
        forward=True,
        payload_in_metadata=provider.name,
        clear_route_cache=provider.recompute_route,
        claim_to_headers=[jwt_pb2.JwtClaimToHeader(header_name=h, claim_name=c) for h, c in provider.claim_to_headers],
    )
    if provider.local_jwks is not None:
        built.local_jwks.inline_string = provider.local_jwks
    elif provider.remote_jwks_uri is not None:
        if provider.remote_jwks_destination is not None:
            cluster = cluster_name(provider.remote_jwks_destination)
        else:
            assert provider.remote_jwks_cluster is not None
            cluster = provider.remote_jwks_cluster
        built.remote_jwks.http_uri.CopyFrom(
            http_uri_pb2.HttpUri(uri=provider.remote_jwks_uri, cluster=cluster, timeout=_seconds(10))
        )
        built.remote_jwks.cache_duration.CopyFrom(_seconds(provider.cache_duration_seconds or 300))
        built.remote_jwks.async_fetch.SetInParent()
    for header, prefix in provider.headers:
        built.from_headers.append(jwt_pb2.JwtHeader(name=header, value_prefix=prefix))
    built.from_cookies.extend(provider.cookies)
    built.from_params.extend(provider.params)
    return built


# --- per route -----------------------------------------------------------------------------------------------


def route_security_configs(route: ir.HTTPRoute) -> dict[str, Any]:
    """The route's `typed_per_filter_config` entries for its SecurityPolicy."""
    security = route.security
    if security is None:
        return {}
    configs: dict[str, Any] = {}
    if security.cors is not None:
        configs[CORS_FILTER] = packed(_cors(security.cors))
    if security.ext_auth is not None:
        configs[ext_authz_filter_name(security.ext_auth)] = packed(
            ext_authz_pb2.ExtAuthzPerRoute(check_settings=ext_authz_pb2.CheckSettings())
        )
    if security.api_key_auth is not None:
        configs[API_KEY_FILTER] = packed(_api_key_auth(security.api_key_auth))
    if security.basic_auth is not None:
        users = base_pb2.DataSource(inline_string=security.basic_auth.users)
        name = basic_auth_filter_name(security.basic_auth.forward_username_header)
        configs[name] = packed(basic_auth_pb2.BasicAuthPerRoute(users=users))
    if security.oidc is not None:
        configs[oauth2_filter_name(security.oidc)] = oauth2_route_config()
    if security.jwt is not None:
        configs[JWT_FILTER] = packed(jwt_pb2.PerRouteConfig(requirement_name=security.jwt.requirement))
    if security.authorization is not None:
        configs[RBAC_FILTER] = packed(rbac_pb2.RBACPerRoute(rbac=rbac_pb2.RBAC(rules=_rbac(security.authorization))))
    return configs


def _origin_matcher(origin: str) -> Any:
    if "*" not in origin:
        return string_pb2.StringMatcher(exact=origin)
    pattern = ".*" if origin == "*" else re.escape(origin).replace(r"\*", "[^.]+")
    return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=pattern))


def _cors(cors: sec.CORS) -> Any:
    policy = cors_pb2.CorsPolicy(
        allow_origin_string_match=[_origin_matcher(o) for o in cors.allow_origins],
        allow_methods=", ".join(cors.allow_methods),
        allow_headers=", ".join(cors.allow_headers),
        expose_headers=", ".join(cors.expose_headers),
        allow_credentials=wrappers_pb2.BoolValue(value=cors.allow_credentials),
    )
    if cors.max_age_seconds is not None:
        policy.max_age = str(cors.max_age_seconds)
    return policy


def _api_key_auth(auth: sec.APIKeyAuth) -> Any:
    config = api_key_auth_pb2.ApiKeyAuthPerRoute(
        credentials=[api_key_auth_pb2.Credential(key=c.key, client=c.client) for c in auth.clients],
        key_sources=[
            *(api_key_auth_pb2.KeySource(header=h) for h in auth.headers),
            *(api_key_auth_pb2.KeySource(query=q) for q in auth.params),
            *(api_key_auth_pb2.KeySource(cookie=c) for c in auth.cookies),
        ],
    )
    if auth.forward_client_id_header or auth.sanitize:
        config.forwarding.CopyFrom(
            api_key_auth_pb2.Forwarding(header=auth.forward_client_id_header or "", hide_credentials=auth.sanitize)
        )
    return config


def _rule_principal(rule: sec.AuthorizationRule) -> Any:
    """A principal that holds when every condition of `rule` does."""
    parts: list[Any] = []
    if rule.cidrs:
        parts.append(_any_of([_cidr_principal(c) for c in rule.cidrs]))
    if rule.methods:
        parts.append(_any_of([_header_principal(":method", m) for m in rule.methods]))
    for name, values in rule.headers:
        parts.append(_any_of([_header_principal(name, v) for v in values]))
    if rule.jwt_provider is not None:
        for claim, values in rule.jwt_claims:
            parts.append(_any_of([_claim_principal(rule.jwt_provider, claim, v) for v in values]))
        if rule.jwt_scopes:
            parts.extend(_claim_principal(rule.jwt_provider, "scope", s, list_element=False) for s in rule.jwt_scopes)
        if not rule.jwt_claims and not rule.jwt_scopes:
            parts.append(rbac_config.Principal(metadata=_metadata(rule.jwt_provider, [], None)))
    if not parts:
        return rbac_config.Principal(any=True)
    return parts[0] if len(parts) == 1 else rbac_config.Principal(and_ids=rbac_config.Principal.Set(ids=parts))


def _any_of(principals: list[Any]) -> Any:
    return (
        principals[0]
        if len(principals) == 1
        else rbac_config.Principal(or_ids=rbac_config.Principal.Set(ids=principals))
    )


def _cidr_principal(cidr: str) -> Any:
    """The client address as the connection manager detected it (X-Forwarded-For or a custom header when a
    ClientTrafficPolicy says so, the peer otherwise): Envoy Gateway's source IP input."""
    address, _, length = cidr.partition("/")
    return rbac_config.Principal(
        remote_ip=address_pb2.CidrRange(address_prefix=address, prefix_len=wrappers_pb2.UInt32Value(value=int(length)))
    )


def _header_principal(name: str, value: str) -> Any:
    return rbac_config.Principal(header=rc.HeaderMatcher(name=name, string_match=string_pb2.StringMatcher(exact=value)))


def _metadata(provider: str, path: list[str], value: Any) -> Any:
    matcher = metadata_pb2.MetadataMatcher(
        filter=JWT_FILTER, path=[metadata_pb2.MetadataMatcher.PathSegment(key=k) for k in [provider, *path]]
    )
    if value is None:
        matcher.value.present_match = True
    else:
        matcher.value.CopyFrom(value)
    return matcher


def _claim_principal(provider: str, claim: str, value: str, *, list_element: bool = True) -> Any:
    """The claim (a dotted path) equals `value`, or is a list holding it."""
    exact = value_pb2.ValueMatcher(string_match=string_pb2.StringMatcher(exact=value))
    path = claim.split(".")
    either = [
        rbac_config.Principal(metadata=_metadata(provider, path, exact)),
        rbac_config.Principal(
            metadata=_metadata(provider, path, value_pb2.ValueMatcher(list_match=value_pb2.ListMatcher(one_of=exact)))
        ),
    ]
    if not list_element:  # a space-separated `scope` string holding the scope
        pattern = f"(^|.* ){re.escape(value)}( .*|$)"
        regex = value_pb2.ValueMatcher(
            string_match=string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=pattern))
        )
        either[0] = rbac_config.Principal(metadata=_metadata(provider, path, regex))
    return _any_of(either)


def _rbac(authorization: sec.Authorization) -> Any:
    """First match wins: rule i is `principal_i and not (any earlier principal)`; the default matches when
    no rule does. ALLOW policies are the allowing rules (and the default when it allows)."""
    principals = [_rule_principal(rule) for rule in authorization.rules]
    allowed: dict[str, Any] = {}
    for i, rule in enumerate(authorization.rules):
        if not rule.allow:
            continue
        earlier = principals[:i]
        principal = principals[i]
        if earlier:
            not_earlier = rbac_config.Principal(not_id=_any_of(earlier))
            principal = rbac_config.Principal(and_ids=rbac_config.Principal.Set(ids=[principal, not_earlier]))
        allowed[f"rule-{i}"] = rbac_config.Policy(
            permissions=[rbac_config.Permission(any=True)], principals=[principal]
        )
    if authorization.default_allow:
        default = rbac_config.Principal(not_id=_any_of(principals)) if principals else rbac_config.Principal(any=True)
        allowed["default"] = rbac_config.Policy(permissions=[rbac_config.Permission(any=True)], principals=[default])
    return rbac_config.RBAC(action=rbac_config.RBAC.ALLOW, policies=allowed)


# --- clusters ------------------------------------------------------------------------------------------------


def remote_jwks_clusters(gateway: ir.GatewayIR) -> list[sec.RemoteJWKSCluster]:
    """The clusters the remote JWKS of the Gateway's JWT providers are fetched through, and the OIDC token
    endpoints, by name."""
    found: dict[str, sec.RemoteJWKSCluster] = {}
    for listener in gateway.http:
        filters = listener.security_filters
        for oidc in filters.oidc if filters is not None else ():
            token = remote_jwks_cluster(oidc.token_endpoint, prefix="oidc")
            if token is not None:
                found[token.name] = token
        for jwt in filters.jwt if filters is not None else ():
            for provider in jwt.providers:
                if provider.remote_jwks_cluster is not None and provider.remote_jwks_uri is not None:
                    cluster = remote_jwks_cluster(provider.remote_jwks_uri)
                    if cluster is not None:
                        found[cluster.name] = cluster
    return [found[name] for name in sorted(found)]


def build_jwks_cluster(jwks: sec.RemoteJWKSCluster) -> Any:
    cluster = dns_cluster(jwks.name, jwks.host, jwks.port, connect_timeout=_CONNECT_TIMEOUT)
    if jwks.tls:
        context = tls_pb2.UpstreamTlsContext(sni=jwks.host)
        cluster.transport_socket.CopyFrom(
            base_pb2.TransportSocket(name="envoy.transport_sockets.tls", typed_config=packed(context))
        )
    return cluster


def ext_auth_http2_destinations(virtual_host: ir.VirtualHost) -> set[str]:
    """The destinations of gRPC ext_authz services: their clusters must speak HTTP/2."""
    filters = virtual_host.security_filters
    return {e.destination for e in filters.ext_auth if e.grpc} if filters is not None else set()
