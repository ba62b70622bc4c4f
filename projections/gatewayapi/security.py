"""SecurityPolicy -> IR: what the winning policy of a route enforces there (`ir.Security`), the backends its
external authorization reaches, and what in a policy cannot be honoured.

The most specific policy wins as a whole (route, then listener, then Gateway), as in Envoy Gateway. A winning
policy that cannot be honoured (a missing Secret, an unsupported feature) is not dropped: its routes answer
500, failing closed rather than open, and its status says why.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence

import msgspec

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.backends import Problem, Target, resolve_backend
from projections.gatewayapi.grants import reference_permitted
from projections.gatewayapi.http import parse_duration
from projections.gatewayapi.inputs import Reader, Resource
from projections.ir import security as sec
from projections.ir.security import remote_jwks_cluster
from projections.resources.core import ConfigMap, Secret
from projections.resources.envoygateway import SecurityPolicy
from projections.resources.envoygateway.cluster import BackendCluster
from projections.resources.envoygateway.securitypolicy import (
    CORS,
    JWT,
    OIDC,
    APIKeyAuth,
    Authorization,
    BasicAuth,
    ExtAuth,
    JWTProvider,
)
from projections.resources.references import SecretObjectReference

KIND = "SecurityPolicy"
HTPASSWD_KEY = ".htpasswd"
JWKS_KEY = "jwks"  # the ConfigMap key a local JWKS is read from (Envoy Gateway's)
OIDC_CLIENT_ID_KEY = "client-id"
OIDC_CLIENT_SECRET_KEY = "client-secret"
# Envoy Gateway's defaults
DEFAULT_REDIRECT_URL = "%REQ(x-forwarded-proto)%://%REQ(:authority)%/oauth2/callback"
DEFAULT_LOGOUT_PATH = "/logout"


class SecurityResult(msgspec.Struct, frozen=True, kw_only=True):
    security: ir.Security | None = None
    targets: tuple[Target, ...] = ()
    problems: tuple[str, ...] = ()


def security_problems(reader: Reader, policy: Resource) -> tuple[str, ...]:
    """What in the policy cannot be honoured (the policy kind's check for its status)."""
    return translate_security(reader, policy).problems


def route_security(reader: Reader, candidates: Sequence[Resource]) -> SecurityResult | None:
    """The winning SecurityPolicy of a route (`candidates`: route, listener, Gateway), translated."""
    return translate_security(reader, candidates[0]) if candidates else None


class _Translation:
    def __init__(self, reader: Reader, policy: Resource) -> None:
        self.reader = reader
        self.key = policy.key
        self.name = f"{policy.key.namespace}/{policy.key.name}"
        self.problems: list[str] = []
        self.targets: list[Target] = []

    def secret(self, ref: SecretObjectReference, what: str) -> Secret | None:
        if (ref.group, ref.kind) != ("", "Secret"):
            self.problems.append(f"{what}: {ref.kind} is not supported, only Secret")
            return None
        key = ResourceKey(group="", kind="Secret", namespace=ref.namespace or self.key.namespace, name=ref.name)
        if not reference_permitted(self.reader, self.key, key):
            self.problems.append(f"{what}: Secret {key.namespace}/{key.name} not permitted by any ReferenceGrant")
            return None
        found = self.reader.model(key, Secret)
        if found is None:
            self.problems.append(f"{what}: Secret {key.namespace}/{key.name} not found")
            return None
        return found[1]

    def backend(self, cluster: BackendCluster, what: str) -> str | None:
        """The destination of an auxiliary service's one backendRef (several are not supported)."""
        if cluster.backend_settings is not None:
            self.problems.append(f"{what}.backendSettings are not supported by egd")
            return None
        refs = cluster.all_backend_refs
        if len(refs) != 1:
            self.problems.append(f"{what} needs exactly one backendRef")
            return None
        resolved = resolve_backend(self.reader, self.key, refs[0])
        if isinstance(resolved, Problem):
            self.problems.append(f"{what}: {resolved.message}")
            return None
        self.targets.append(resolved)
        return resolved.name

    def cors(self, spec: CORS) -> sec.CORS:
        max_age = parse_duration(spec.max_age) if spec.max_age else None
        return sec.CORS(
            allow_origins=spec.allow_origins,
            allow_methods=spec.allow_methods,
            allow_headers=spec.allow_headers,
            expose_headers=spec.expose_headers,
            max_age_seconds=max_age // 1000 if max_age is not None else None,
            allow_credentials=bool(spec.allow_credentials),
        )

    def basic_auth(self, spec: BasicAuth) -> sec.BasicAuth | None:
        secret = self.secret(spec.users, "basicAuth.users")
        if secret is None:
            return None
        users = secret.value(HTPASSWD_KEY)
        if users is None:
            self.problems.append(f"basicAuth.users: the Secret has no {HTPASSWD_KEY!r} key")
            return None
        return sec.BasicAuth(users=users.decode(), forward_username_header=spec.forward_username_header)

    def api_key_auth(self, spec: APIKeyAuth) -> sec.APIKeyAuth | None:
        clients: dict[str, str] = {}
        for i, ref in enumerate(spec.credential_refs):
            secret = self.secret(ref, f"apiKeyAuth.credentialRefs[{i}]")
            if secret is None:
                return None
            for client in sorted({*secret.data, *secret.string_data}):
                value = secret.value(client)
                if value is not None:
                    clients.setdefault(client, value.decode())
        headers = tuple(h for e in spec.extract_from for h in e.headers)
        params = tuple(p for e in spec.extract_from for p in e.params)
        cookies = tuple(c for e in spec.extract_from for c in e.cookies)
        return sec.APIKeyAuth(
            clients=tuple(sec.APIKeyClient(client=c, key=k) for c, k in sorted(clients.items())),
            headers=headers,
            params=params,
            cookies=cookies,
            forward_client_id_header=spec.forward_client_id_header,
            sanitize=bool(spec.sanitize),
        )

    def jwt(self, spec: JWT) -> sec.JWT | None:
        providers = [self.jwt_provider(p) for p in spec.providers]
        if any(p is None for p in providers):
            return None
        return sec.JWT(
            requirement=self.name, providers=tuple(p for p in providers if p is not None), optional=bool(spec.optional)
        )

    def jwt_provider(self, spec: JWTProvider) -> sec.JWTProvider | None:
        local = remote_uri = remote_cluster = destination = None
        cache = None
        if spec.local_jwks is not None:
            local = self.local_jwks(spec)
            if local is None:
                return None
        elif spec.remote_jwks is not None:
            remote = spec.remote_jwks
            cluster = remote_jwks_cluster(remote.uri)
            if cluster is None:
                self.problems.append(f"jwt provider {spec.name}: remoteJWKS.uri {remote.uri!r} is not an http(s) URL")
                return None
            remote_uri = remote.uri
            # Envoy Gateway's: the URI is fetched from these backends, not from its host
            if remote.all_backend_refs or remote.backend_settings is not None:
                destination = self.backend(remote, f"jwt provider {spec.name}: remoteJWKS")
                if destination is None:
                    return None
            else:
                remote_cluster = cluster.name
            ms = parse_duration(remote.cache_duration) if remote.cache_duration else None
            cache = ms // 1000 if ms is not None else None
        extract = spec.extract_from
        return sec.JWTProvider(
            name=f"{self.name}/{spec.name}",
            issuer=spec.issuer,
            audiences=spec.audiences,
            local_jwks=local,
            remote_jwks_uri=remote_uri,
            remote_jwks_cluster=remote_cluster,
            remote_jwks_destination=destination,
            cache_duration_seconds=cache,
            claim_to_headers=tuple((c.header, c.claim) for c in spec.claim_to_headers),
            headers=tuple((h.name, h.value_prefix or "") for h in extract.headers) if extract else (),
            cookies=extract.cookies if extract else (),
            params=extract.params if extract else (),
            recompute_route=bool(spec.recompute_route),
        )

    def local_jwks(self, spec: JWTProvider) -> str | None:
        local = spec.local_jwks
        assert local is not None
        if local.type == "Inline" or local.value_ref is None:
            if not local.inline:
                self.problems.append(f"jwt provider {spec.name}: localJWKS has no inline JWKS")
                return None
            return local.inline
        name = local.value_ref.get("name", "")
        key = ResourceKey(group="", kind="ConfigMap", namespace=self.key.namespace, name=name)
        found = self.reader.model(key, ConfigMap)
        if found is None or JWKS_KEY not in found[1].data:
            self.problems.append(f"jwt provider {spec.name}: ConfigMap {key.namespace}/{name} with key jwks not found")
            return None
        return found[1].data[JWKS_KEY]

    def ext_auth(self, spec: ExtAuth) -> sec.ExtAuth | None:
        service = spec.grpc or spec.http
        assert service is not None
        destination = self.backend(service, "extAuth")
        if destination is None:
            return None
        timeout = parse_duration(spec.timeout) if spec.timeout else None
        http = spec.http
        return sec.ExtAuth(
            name=self.name,
            grpc=spec.grpc is not None,
            destination=destination,
            authority=service.all_backend_refs[0].name,
            path_prefix=(http.path or "") if http is not None else "",
            headers_to_backend=http.headers_to_backend if http is not None else (),
            headers_to_ext_auth=spec.headers_to_ext_auth,
            timeout_ms=timeout if timeout is not None else 10_000,
            fail_open=bool(spec.fail_open),
            body_max_bytes=spec.body_to_ext_auth.max_request_bytes if spec.body_to_ext_auth is not None else None,
            recompute_route=bool(spec.recompute_route),
        )

    def oidc(self, spec: OIDC, jwt: sec.JWT | None) -> sec.OIDC | None:
        provider = spec.provider
        if provider.backend_settings is not None:
            self.problems.append("oidc.provider.backendSettings are not supported by egd")
            return None
        if provider.all_backend_refs:
            self.problems.append("oidc.provider.backendRefs are not supported: the token endpoint's host is used")
            return None
        if not provider.authorization_endpoint or not provider.token_endpoint:
            self.problems.append(
                "oidc.provider: authorizationEndpoint and tokenEndpoint must be set (no OpenID discovery in egd)"
            )
            return None
        cluster = remote_jwks_cluster(provider.token_endpoint, prefix="oidc")
        if cluster is None:
            self.problems.append(f"oidc.provider.tokenEndpoint {provider.token_endpoint!r} is not an http(s) URL")
            return None
        if spec.forward_id_token is not None:
            self.problems.append("oidc.forwardIDToken is not supported: Envoy 1.40's OAuth2 filter cannot forward it")
            return None
        pass_through: tuple[tuple[str, str], ...] = ()
        if spec.pass_through_auth_header:
            if jwt is None:
                self.problems.append("oidc.passThroughAuthHeader needs jwt: the token passed through must be verified")
                return None
            pass_through = _jwt_token_headers(jwt)
        client_id = spec.client_id
        if spec.client_id_ref is not None:
            found = self.secret(spec.client_id_ref, "oidc.clientIDRef")
            value = found.value(OIDC_CLIENT_ID_KEY) if found is not None else None
            if found is not None and value is None:
                self.problems.append(f"oidc.clientIDRef: the Secret has no {OIDC_CLIENT_ID_KEY!r} key")
            client_id = value.decode() if value is not None else None
        secret = self.secret(spec.client_secret, "oidc.clientSecret")
        client_secret = secret.value(OIDC_CLIENT_SECRET_KEY) if secret is not None else None
        if secret is not None and client_secret is None:
            self.problems.append(f"oidc.clientSecret: the Secret has no {OIDC_CLIENT_SECRET_KEY!r} key")
        if client_id is None or client_secret is None:
            return None
        redirect_uri = spec.redirect_url or DEFAULT_REDIRECT_URL
        redirect_path = _redirect_path(redirect_uri)
        scopes = spec.scopes if "openid" in spec.scopes else ("openid", *spec.scopes)
        hmac = hashlib.sha256(b"egd-oauth2-hmac\0" + self.name.encode() + b"\0" + client_secret).hexdigest()
        cookies = spec.cookie_names or {}
        token_ttl = parse_duration(spec.default_token_ttl) if spec.default_token_ttl else None
        refresh_ttl = parse_duration(spec.default_refresh_token_ttl) if spec.default_refresh_token_ttl else None
        csrf_ttl = parse_duration(spec.csrf_token_ttl) if spec.csrf_token_ttl else None
        return sec.OIDC(
            name=self.name,
            client_id=client_id,
            client_secret=client_secret.decode(),
            hmac_secret=hmac,
            authorization_endpoint=provider.authorization_endpoint,
            token_endpoint=provider.token_endpoint,
            token_cluster=cluster.name,
            redirect_uri=redirect_uri,
            redirect_path=redirect_path,
            logout_path=spec.logout_path or DEFAULT_LOGOUT_PATH,
            scopes=scopes,
            resources=spec.resources,
            forward_access_token=bool(spec.forward_access_token),
            cookie_suffix=hashlib.sha256(self.name.encode()).hexdigest()[:8],
            access_token_cookie=cookies.get("accessToken"),
            id_token_cookie=cookies.get("idToken"),
            cookie_domain=spec.cookie_domain,
            default_token_ttl_seconds=token_ttl // 1000 if token_ttl is not None else None,
            refresh_token=spec.refresh_token is not False,  # Envoy Gateway's default: on
            default_refresh_token_ttl_seconds=refresh_ttl // 1000 if refresh_ttl is not None else None,
            end_session_endpoint=provider.end_session_endpoint,
            deny_redirect=tuple(
                sec.HeaderMatch(name=h.name, type=h.type, value=h.value) for h in spec.deny_redirect.headers
            )
            if spec.deny_redirect is not None
            else (),
            pass_through=pass_through,
            csrf_token_ttl_seconds=csrf_ttl // 1000 if csrf_ttl is not None else None,
            disable_token_encryption=bool(spec.disable_token_encryption),
            same_site=spec.cookie_config.same_site if spec.cookie_config is not None else None,
        )

    def authorization(self, spec: Authorization, jwt: sec.JWT | None) -> sec.Authorization:
        rules = []
        for i, rule in enumerate(spec.rules):
            principal = rule.principal
            unsupported = {
                "principal.clientIPGeoLocations": bool(principal.client_ip_geo_locations),
                "principal.clientCert": principal.client_cert is not None,
                "operation.path": rule.operation is not None and rule.operation.path is not None,
                "cel": rule.cel is not None,
            }
            self.problems.extend(
                f"authorization.rules[{i}].{field} is not supported by egd"
                for field, set_ in unsupported.items()
                if set_
            )
            provider = None
            claims: tuple[tuple[str, tuple[str, ...]], ...] = ()
            scopes: tuple[str, ...] = ()
            if principal.jwt is not None:
                provider = f"{self.name}/{principal.jwt.provider}"
                if jwt is None or provider not in {p.name for p in jwt.providers}:
                    self.problems.append(
                        f"authorization.rules[{i}]: JWT provider {principal.jwt.provider} is not one of the policy's"
                    )
                claims = tuple((c.name, c.values) for c in principal.jwt.claims)
                scopes = principal.jwt.scopes
            cidrs = []
            for cidr in principal.client_cidrs:
                try:
                    cidrs.append(str(ipaddress.ip_network(cidr, strict=False)))
                except ValueError:
                    self.problems.append(f"authorization.rules[{i}]: {cidr!r} is not a CIDR")
            rules.append(
                sec.AuthorizationRule(
                    allow=rule.action == "Allow",
                    cidrs=tuple(cidrs),
                    methods=rule.operation.methods if rule.operation is not None else (),
                    headers=tuple((h.name, h.values) for h in principal.headers),
                    jwt_provider=provider,
                    jwt_claims=claims,
                    jwt_scopes=scopes,
                )
            )
        return sec.Authorization(rules=tuple(rules), default_allow=spec.default_action == "Allow")


def _jwt_token_headers(jwt: sec.JWT) -> tuple[tuple[str, str], ...]:
    """The headers (with value prefix) the policy's JWT providers read a token from: `Authorization: Bearer`
    for a provider that names none (Envoy's default)."""
    found: dict[tuple[str, str], None] = {}
    for provider in jwt.providers:
        if provider.headers:
            found.update(dict.fromkeys(provider.headers))
        elif not provider.cookies and not provider.params:
            found[("Authorization", "Bearer ")] = None
    return tuple(found)


def _redirect_path(uri: str) -> str:
    """The path of a redirect URL, which may hold command operators in its scheme and host."""
    rest = uri.split("://", 1)[-1]
    slash = rest.find("/")
    path = rest[slash:] if slash >= 0 else "/"
    return path.split("?", 1)[0]


def translate_security(reader: Reader, policy: Resource) -> SecurityResult:
    model = policy.model
    if not isinstance(model, SecurityPolicy):
        return SecurityResult()
    spec = model.spec
    translation = _Translation(reader, policy)
    jwt = translation.jwt(spec.jwt) if spec.jwt is not None else None
    security = ir.Security(
        policy=translation.name,
        cors=translation.cors(spec.cors) if spec.cors is not None else None,
        basic_auth=translation.basic_auth(spec.basic_auth) if spec.basic_auth is not None else None,
        api_key_auth=translation.api_key_auth(spec.api_key_auth) if spec.api_key_auth is not None else None,
        jwt=jwt,
        ext_auth=translation.ext_auth(spec.ext_auth) if spec.ext_auth is not None else None,
        authorization=translation.authorization(spec.authorization, jwt) if spec.authorization is not None else None,
        oidc=translation.oidc(spec.oidc, jwt) if spec.oidc is not None else None,
    )
    if translation.problems:
        return SecurityResult(problems=tuple(translation.problems))
    return SecurityResult(security=security, targets=tuple(translation.targets))
