"""IR of SecurityPolicy: what one route enforces (`Security`), and what the HTTP connection manager of a
listener must hold for its routes (`SecurityFilters`: which filters, JWT providers, ext_authz services).

Names: a JWT provider is `<policy>/<provider>` (policy = `<namespace>/<name>`), an ext_authz service is its
policy's name; each filter is configured per route (typed_per_filter_config), so changing one policy touches
its routes, and the listener only when the set of filters, providers or services changes.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from projections.ir.base import IRStruct


class CORS(IRStruct, frozen=True, kw_only=True):
    allow_origins: tuple[str, ...] = ()  # exact origins, or patterns with `*` (`https://*.example.com`, `*`)
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None
    allow_credentials: bool = False


class BasicAuth(IRStruct, frozen=True, kw_only=True):
    users: str  # htpasswd lines (`user:{SHA}base64`)
    forward_username_header: str | None = None


class APIKeyClient(IRStruct, frozen=True, kw_only=True):
    client: str
    key: str


class APIKeyAuth(IRStruct, frozen=True, kw_only=True):
    clients: tuple[APIKeyClient, ...]
    headers: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    cookies: tuple[str, ...] = ()
    forward_client_id_header: str | None = None
    sanitize: bool = False


class JWTProvider(IRStruct, frozen=True, kw_only=True):
    name: str  # `<policy>/<provider>`
    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    local_jwks: str | None = None  # the JWKS document
    remote_jwks_uri: str | None = None
    remote_jwks_cluster: str | None = None  # the cluster that reaches the URI's host
    remote_jwks_destination: str | None = None  # a Destination.name: remoteJWKS.backendRefs, instead of the host
    cache_duration_seconds: int | None = None
    claim_to_headers: tuple[tuple[str, str], ...] = ()  # (header, claim)
    headers: tuple[tuple[str, str], ...] = ()  # (header, value prefix) to read the token from
    cookies: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    recompute_route: bool = False  # pick the route again once the claims are in headers


class JWT(IRStruct, frozen=True, kw_only=True):
    requirement: str  # the policy's name: the requirement the route selects
    providers: tuple[JWTProvider, ...]
    optional: bool = False


class ExtAuth(IRStruct, frozen=True, kw_only=True):
    name: str  # the policy's name
    grpc: bool
    destination: str  # a Destination.name
    authority: str = ""  # the Host sent to an HTTP service
    path_prefix: str = ""
    headers_to_backend: tuple[str, ...] = ()
    headers_to_ext_auth: tuple[str, ...] = ()
    timeout_ms: int = 10_000
    fail_open: bool = False
    body_max_bytes: int | None = None  # bodyToExtAuth: the request body (up to this size) goes to the service
    recompute_route: bool = False  # pick the route again once the service's headers are in


class HeaderMatch(IRStruct, frozen=True, kw_only=True):
    """A request header matched by a string (OIDC's deny-redirect matchers)."""

    name: str
    type: Literal["Exact", "Prefix", "Suffix", "RegularExpression"] = "Exact"
    value: str


class OIDC(IRStruct, frozen=True, kw_only=True):
    """An OAuth2 (OIDC authorization code) filter, one per policy. Secrets go over SDS: the client secret from
    the policy's Secret, and an HMAC secret derived from it and the policy's name (every replica derives the
    same one, where Envoy Gateway generates and stores a random one)."""

    name: str  # the policy's name
    client_id: str
    client_secret: str
    hmac_secret: str
    authorization_endpoint: str
    token_endpoint: str
    token_cluster: str  # the cluster that reaches the token endpoint's host
    redirect_uri: str
    redirect_path: str
    logout_path: str
    scopes: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    forward_access_token: bool = False
    cookie_suffix: str = ""
    access_token_cookie: str | None = None
    id_token_cookie: str | None = None
    cookie_domain: str | None = None
    default_token_ttl_seconds: int | None = None
    refresh_token: bool = False
    default_refresh_token_ttl_seconds: int | None = None
    end_session_endpoint: str | None = None  # the provider's: logging out also ends the session there
    deny_redirect: tuple[HeaderMatch, ...] = ()  # requests answered 401 rather than redirected to log in
    pass_through: tuple[tuple[str, str], ...] = ()  # (header, value prefix): left to the policy's JWT providers
    csrf_token_ttl_seconds: int | None = None
    disable_token_encryption: bool = False
    same_site: Literal["Lax", "Strict", "None"] | None = None  # of every OAuth2 cookie


class RemoteJWKSCluster(IRStruct, frozen=True, kw_only=True):
    """A cluster to the host of a remote JWKS URI (TLS for https, with the host as SNI)."""

    name: str
    host: str
    port: int
    tls: bool

    @property
    def hash_key(self) -> str:
        return f"{self.host}:{self.port}:{self.tls}"


class AuthorizationRule(IRStruct, frozen=True, kw_only=True):
    """Matches when every given condition holds: the client address in one of `cidrs`, the method one of
    `methods`, each header one of its values, each JWT claim (of `jwt_provider`'s token) one of its values."""

    allow: bool
    cidrs: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    headers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    jwt_provider: str | None = None
    jwt_claims: tuple[tuple[str, tuple[str, ...]], ...] = ()
    jwt_scopes: tuple[str, ...] = ()


class Authorization(IRStruct, frozen=True, kw_only=True):
    rules: tuple[AuthorizationRule, ...] = ()  # the first that matches decides
    default_allow: bool = False


class Security(IRStruct, frozen=True, kw_only=True):
    """What the winning SecurityPolicy of a route enforces there."""

    policy: str  # `<namespace>/<name>`
    cors: CORS | None = None
    basic_auth: BasicAuth | None = None
    api_key_auth: APIKeyAuth | None = None
    jwt: JWT | None = None
    ext_auth: ExtAuth | None = None
    authorization: Authorization | None = None
    oidc: OIDC | None = None


class SecurityFilters(IRStruct, frozen=True, kw_only=True):
    """The security filters an HTTP connection manager needs for its routes, with their listener-level parts."""

    cors: bool = False
    basic_auth: bool = False
    basic_auth_forward: tuple[str, ...] = ()  # sorted: the username headers of basic auth filters that forward it
    api_key_auth: bool = False
    rbac: bool = False
    jwt: tuple[JWT, ...] = ()  # sorted by requirement
    ext_auth: tuple[ExtAuth, ...] = ()  # sorted by name
    oidc: tuple[OIDC, ...] = ()  # sorted by name

    @property
    def empty(self) -> bool:
        return self == _NONE


_NONE = SecurityFilters()


def security_filters(securities: list[Security]) -> SecurityFilters | None:
    """The union of what `securities` need; None when they need nothing."""
    if not securities:
        return None
    jwt = {s.jwt.requirement: s.jwt for s in securities if s.jwt is not None}
    ext_auth = {s.ext_auth.name: s.ext_auth for s in securities if s.ext_auth is not None}
    oidc = {s.oidc.name: s.oidc for s in securities if s.oidc is not None}
    found = SecurityFilters(
        cors=any(s.cors is not None for s in securities),
        basic_auth=any(s.basic_auth is not None and not s.basic_auth.forward_username_header for s in securities),
        basic_auth_forward=tuple(
            sorted(
                {
                    s.basic_auth.forward_username_header
                    for s in securities
                    if s.basic_auth is not None and s.basic_auth.forward_username_header
                }
            )
        ),
        api_key_auth=any(s.api_key_auth is not None for s in securities),
        rbac=any(s.authorization is not None for s in securities),
        jwt=tuple(jwt[k] for k in sorted(jwt)),
        ext_auth=tuple(ext_auth[k] for k in sorted(ext_auth)),
        oidc=tuple(oidc[k] for k in sorted(oidc)),
    )
    return None if found.empty else found


def merge_filters(parts: list[SecurityFilters | None]) -> SecurityFilters | None:
    """The union of several `SecurityFilters` (a listener's from its virtual hosts)."""
    present = [p for p in parts if p is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    jwt = {j.requirement: j for p in present for j in p.jwt}
    ext_auth = {e.name: e for p in present for e in p.ext_auth}
    oidc = {o.name: o for p in present for o in p.oidc}
    return SecurityFilters(
        cors=any(p.cors for p in present),
        basic_auth=any(p.basic_auth for p in present),
        basic_auth_forward=tuple(sorted({h for p in present for h in p.basic_auth_forward})),
        api_key_auth=any(p.api_key_auth for p in present),
        rbac=any(p.rbac for p in present),
        jwt=tuple(jwt[k] for k in sorted(jwt)),
        ext_auth=tuple(ext_auth[k] for k in sorted(ext_auth)),
        oidc=tuple(oidc[k] for k in sorted(oidc)),
    )


def remote_jwks_cluster(uri: str, prefix: str = "jwks") -> RemoteJWKSCluster | None:
    """The cluster to the host of an http(s) URI, named `<prefix>/<host>/<port>` (`oidc` for token endpoints)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    return RemoteJWKSCluster(name=f"{prefix}/{parts.hostname}/{port}", host=parts.hostname, port=port, tls=tls)
