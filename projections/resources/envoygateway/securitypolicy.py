"""SecurityPolicy: authentication (basic, API key, JWT, OIDC, external), authorization and CORS."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from projections.resources.envoygateway.cluster import BackendCluster
from projections.resources.meta import K8sModel, K8sObject
from projections.resources.policy import PolicyTargetReferences
from projections.resources.quantities import CIDR, Duration, PositiveUInt32
from projections.resources.references import SecretObjectReference
from projections.resources.regex import re2_problem

Action = Literal["Allow", "Deny"]


class CORS(K8sModel, frozen=True, kw_only=True):
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: Duration | None = None
    allow_credentials: bool | None = None


class BasicAuth(K8sModel, frozen=True, kw_only=True):
    """`users` names a Secret whose `.htpasswd` key holds htpasswd lines (SHA hashes)."""

    users: SecretObjectReference
    forward_username_header: str | None = None


class ExtractFrom(K8sModel, frozen=True, kw_only=True):
    headers: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    cookies: tuple[str, ...] = ()


class APIKeyAuth(K8sModel, frozen=True, kw_only=True):
    credential_refs: Annotated[tuple[SecretObjectReference, ...], msgspec.Meta(min_length=1)]
    extract_from: Annotated[tuple[ExtractFrom, ...], msgspec.Meta(min_length=1)]
    forward_client_id_header: str | None = msgspec.field(default=None, name="forwardClientIDHeader")
    sanitize: bool | None = None


class RemoteJWKS(BackendCluster, frozen=True, kw_only=True):
    uri: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    cache_duration: Duration | None = None


class LocalJWKS(K8sModel, frozen=True, kw_only=True):
    type: Literal["Inline", "ValueRef"] = "Inline"
    inline: str | None = None
    value_ref: dict[str, str] | None = None


class ClaimToHeader(K8sModel, frozen=True, kw_only=True):
    header: str
    claim: str


class JWTHeaderExtractor(K8sModel, frozen=True, kw_only=True):
    name: str
    value_prefix: str | None = None


class JWTExtractor(K8sModel, frozen=True, kw_only=True):
    headers: tuple[JWTHeaderExtractor, ...] = ()
    cookies: tuple[str, ...] = ()
    params: tuple[str, ...] = ()


class JWTProvider(K8sModel, frozen=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    remote_jwks: RemoteJWKS | None = msgspec.field(default=None, name="remoteJWKS")
    local_jwks: LocalJWKS | None = msgspec.field(default=None, name="localJWKS")
    claim_to_headers: tuple[ClaimToHeader, ...] = ()
    recompute_route: bool | None = None
    extract_from: JWTExtractor | None = None

    def __post_init__(self) -> None:
        if (self.remote_jwks is None) == (self.local_jwks is None):
            raise ValueError("a JWT provider needs exactly one of remoteJWKS and localJWKS")


class JWT(K8sModel, frozen=True, kw_only=True):
    providers: Annotated[tuple[JWTProvider, ...], msgspec.Meta(min_length=1, max_length=4)]
    optional: bool | None = None


class OIDCProvider(BackendCluster, frozen=True, kw_only=True):
    issuer: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    end_session_endpoint: str | None = None


class OIDCDenyRedirectHeader(K8sModel, frozen=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    type: Literal["Exact", "Prefix", "Suffix", "RegularExpression"] = "Exact"
    value: str

    def __post_init__(self) -> None:
        if self.type == "RegularExpression" and (problem := re2_problem(self.value)) is not None:
            raise ValueError(problem)


class OIDCDenyRedirect(K8sModel, frozen=True, kw_only=True):
    headers: Annotated[tuple[OIDCDenyRedirectHeader, ...], msgspec.Meta(min_length=1, max_length=16)]


class OIDCCookieConfig(K8sModel, frozen=True, kw_only=True):
    same_site: Literal["Lax", "Strict", "None"] | None = None


class OIDCTokenForwarding(K8sModel, frozen=True, kw_only=True):
    header: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class OIDC(K8sModel, frozen=True, kw_only=True):
    provider: OIDCProvider
    client_id: str | None = msgspec.field(default=None, name="clientID")
    client_id_ref: SecretObjectReference | None = msgspec.field(default=None, name="clientIDRef")
    client_secret: SecretObjectReference
    scopes: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    redirect_url: str | None = msgspec.field(default=None, name="redirectURL")
    logout_path: str | None = None
    forward_access_token: bool | None = None
    default_token_ttl: Duration | None = msgspec.field(default=None, name="defaultTokenTTL")
    refresh_token: bool | None = None
    default_refresh_token_ttl: Duration | None = msgspec.field(default=None, name="defaultRefreshTokenTTL")
    cookie_names: dict[str, str] | None = None
    cookie_domain: str | None = None
    cookie_config: OIDCCookieConfig | None = None
    deny_redirect: OIDCDenyRedirect | None = None
    csrf_token_ttl: Duration | None = msgspec.field(default=None, name="csrfTokenTTL")
    disable_token_encryption: bool | None = None
    pass_through_auth_header: bool | None = None
    forward_id_token: OIDCTokenForwarding | None = msgspec.field(default=None, name="forwardIDToken")

    def __post_init__(self) -> None:
        if (self.client_id is None) == (self.client_id_ref is None):
            raise ValueError("OIDC needs exactly one of clientID and clientIDRef")


class GRPCExtAuthService(BackendCluster, frozen=True, kw_only=True):
    pass


class HTTPExtAuthService(BackendCluster, frozen=True, kw_only=True):
    path: str | None = None
    headers_to_backend: tuple[str, ...] = ()


class BodyToExtAuth(K8sModel, frozen=True, kw_only=True):
    max_request_bytes: PositiveUInt32


class ExtAuth(K8sModel, frozen=True, kw_only=True):
    grpc: GRPCExtAuthService | None = None
    http: HTTPExtAuthService | None = None
    headers_to_ext_auth: tuple[str, ...] = ()
    body_to_ext_auth: BodyToExtAuth | None = None
    fail_open: bool | None = None
    recompute_route: bool | None = None
    timeout: Duration | None = None

    def __post_init__(self) -> None:
        if (self.grpc is None) == (self.http is None):
            raise ValueError("extAuth needs exactly one of grpc and http")


class JWTClaim(K8sModel, frozen=True, kw_only=True):
    name: str
    value_type: Literal["String", "StringArray"] = "String"
    values: Annotated[tuple[str, ...], msgspec.Meta(min_length=1)]


class JWTPrincipal(K8sModel, frozen=True, kw_only=True):
    provider: str
    scopes: tuple[str, ...] = ()
    claims: tuple[JWTClaim, ...] = ()


class AuthorizationHeaderMatch(K8sModel, frozen=True, kw_only=True):
    name: str
    values: Annotated[tuple[str, ...], msgspec.Meta(min_length=1)]


class Principal(K8sModel, frozen=True, kw_only=True):
    client_cidrs: tuple[CIDR, ...] = msgspec.field(default=(), name="clientCIDRs")
    jwt: JWTPrincipal | None = None
    headers: tuple[AuthorizationHeaderMatch, ...] = ()
    # Envoy Gateway's, not translated by egd: read only to refuse them (a rule without them would match more)
    client_ip_geo_locations: tuple[object, ...] = msgspec.field(default=(), name="clientIPGeoLocations")
    client_cert: dict[str, object] | None = None


class Operation(K8sModel, frozen=True, kw_only=True):
    methods: tuple[str, ...] = ()
    path: dict[str, object] | None = None  # not translated by egd: refused


class AuthorizationRule(K8sModel, frozen=True, kw_only=True):
    action: Action
    principal: Principal
    name: str | None = None
    operation: Operation | None = None
    cel: str | None = None  # not translated by egd: refused


class Authorization(K8sModel, frozen=True, kw_only=True):
    rules: tuple[AuthorizationRule, ...] = ()
    default_action: Action = "Deny"


class SecurityPolicySpec(PolicyTargetReferences, frozen=True, kw_only=True):
    cors: CORS | None = None
    basic_auth: BasicAuth | None = None
    api_key_auth: APIKeyAuth | None = None
    jwt: JWT | None = None
    oidc: OIDC | None = None
    ext_auth: ExtAuth | None = None
    authorization: Authorization | None = None


class SecurityPolicy(K8sObject, frozen=True, kw_only=True):
    spec: SecurityPolicySpec
