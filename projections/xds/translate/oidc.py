"""OIDC in Envoy: one OAuth2 filter per SecurityPolicy (Envoy Gateway's `internal/xds/translator/oidc.go`),
disabled in the connection manager and enabled by the policy's routes; the token endpoint is reached through
a cluster to its host; the client secret and the HMAC secret go over SDS as generic secrets."""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import base_pb2, http_uri_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.oauth2.v3 import oauth_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.type.matcher.v3 import path_pb2, regex_pb2, string_pb2
from google.protobuf import any_pb2, duration_pb2, wrappers_pb2

from projections import ir
from projections.ir import security as sec
from projections.xds.translate.clusters import ads_source
from projections.xds.translate.packing import packed

OAUTH2_FILTER = "envoy.filters.http.oauth2"


def oauth2_filter_name(oidc: sec.OIDC) -> str:
    return f"{OAUTH2_FILTER}/{oidc.name}"


def client_secret_name(oidc: sec.OIDC) -> str:
    return f"oauth2/{oidc.name}/client-secret"


def hmac_secret_name(oidc: sec.OIDC) -> str:
    return f"oauth2/{oidc.name}/hmac"


def _path(path: str) -> Any:
    return path_pb2.PathMatcher(path=string_pb2.StringMatcher(exact=path))


def oauth2_http_filter(oidc: sec.OIDC) -> Any:
    suffix = oidc.cookie_suffix
    config = oauth_pb2.OAuth2Config(
        token_endpoint=http_uri_pb2.HttpUri(
            uri=oidc.token_endpoint, cluster=oidc.token_cluster, timeout=duration_pb2.Duration(seconds=10)
        ),
        authorization_endpoint=oidc.authorization_endpoint,
        redirect_uri=oidc.redirect_uri,
        redirect_path_matcher=_path(oidc.redirect_path),
        signout_path=_path(oidc.logout_path),
        forward_bearer_token=oidc.forward_access_token,
        auth_scopes=oidc.scopes,
        resources=oidc.resources,
        use_refresh_token=wrappers_pb2.BoolValue(value=oidc.refresh_token),
        credentials=oauth_pb2.OAuth2Credentials(
            client_id=oidc.client_id,
            token_secret=secret_pb2.SdsSecretConfig(name=client_secret_name(oidc), sds_config=ads_source()),
            hmac_secret=secret_pb2.SdsSecretConfig(name=hmac_secret_name(oidc), sds_config=ads_source()),
            cookie_names=oauth_pb2.OAuth2Credentials.CookieNames(
                bearer_token=oidc.access_token_cookie or f"AccessToken-{suffix}",
                oauth_hmac=f"OauthHMAC-{suffix}",
                oauth_expires=f"OauthExpires-{suffix}",
                id_token=oidc.id_token_cookie or f"IdToken-{suffix}",
                refresh_token=f"RefreshToken-{suffix}",
                oauth_nonce=f"OauthNonce-{suffix}",
                code_verifier=f"CodeVerifier-{suffix}",
            ),
            cookie_domain=oidc.cookie_domain or "",
        ),
    )
    if oidc.end_session_endpoint is not None:
        config.end_session_endpoint = oidc.end_session_endpoint
    config.deny_redirect_matcher.extend(_header_matcher(m) for m in oidc.deny_redirect)
    config.pass_through_matcher.extend(
        rc.HeaderMatcher(name=header, string_match=string_pb2.StringMatcher(prefix=prefix))
        for header, prefix in oidc.pass_through
    )
    if oidc.csrf_token_ttl_seconds is not None:
        config.csrf_token_expires_in.CopyFrom(duration_pb2.Duration(seconds=oidc.csrf_token_ttl_seconds))
    config.disable_token_encryption = oidc.disable_token_encryption
    if oidc.same_site is not None:
        _set_same_site(config.cookie_configs, oauth_pb2.CookieConfig.SameSite.Value(oidc.same_site.upper()))
    if oidc.default_token_ttl_seconds is not None:
        config.default_expires_in.CopyFrom(duration_pb2.Duration(seconds=oidc.default_token_ttl_seconds))
    if oidc.default_refresh_token_ttl_seconds is not None:
        config.default_refresh_token_expires_in.CopyFrom(
            duration_pb2.Duration(seconds=oidc.default_refresh_token_ttl_seconds)
        )
    return hcm.HttpFilter(
        name=oauth2_filter_name(oidc), typed_config=packed(oauth_pb2.OAuth2(config=config)), disabled=True
    )


def _header_matcher(match: sec.HeaderMatch) -> Any:
    if match.type == "RegularExpression":
        string = string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=match.value))
    else:
        string = string_pb2.StringMatcher(**{match.type.lower(): match.value})
    return rc.HeaderMatcher(name=match.name, string_match=string)


def _set_same_site(configs: Any, same_site: int) -> None:
    """The SameSite attribute of every cookie the filter sets."""
    for field in configs.DESCRIPTOR.fields:
        getattr(configs, field.name).same_site = same_site


def oauth2_route_config() -> Any:
    """Enables the (disabled) OAuth2 filter on a route: the filter has no per-route configuration."""
    return packed(rc.FilterConfig(config=any_pb2.Any()))


def oidc_secrets(gateway: ir.GatewayIR) -> list[Any]:
    """The SDS secrets of the Gateway's OAuth2 filters, by name."""
    found: dict[str, Any] = {}
    for listener in gateway.http:
        filters = listener.security_filters
        for oidc in filters.oidc if filters is not None else ():
            for name, value in (
                (client_secret_name(oidc), oidc.client_secret),
                (hmac_secret_name(oidc), oidc.hmac_secret),
            ):
                found[name] = secret_pb2.Secret(
                    name=name, generic_secret=secret_pb2.GenericSecret(secret=base_pb2.DataSource(inline_string=value))
                )
    return [found[name] for name in sorted(found)]
