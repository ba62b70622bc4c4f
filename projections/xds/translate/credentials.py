"""HTTPRouteFilter `credentialInjection` in Envoy: the credential injector filter with the generic credential,
which reads the credential over SDS (Envoy Gateway's `internal/xds/translator/credentialInjector.go`).

Envoy Gateway adds one injector per route; egd adds one per Secret, header and overwrite mode (the route's
`CredentialInjection.filter_key`), disabled in the connection manager, each route enabling its own. The
credential is a generic SDS secret named after its Secret, `credential_injector/<namespace>/<name>`: a change
to the Secret is pushed as that secret alone.
"""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import base_pb2, extension_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.credential_injector.v3 import credential_injector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.http.injected_credentials.generic.v3 import generic_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf import any_pb2

from projections import ir
from projections.xds.translate.clusters import ads_source
from projections.xds.translate.packing import packed

_FILTER_PREFIX = "envoy.filters.http."
_KEY_PREFIX = "credential_injector/"
_GENERIC = "envoy.http.injected_credentials.generic"


def credential_secret_name(secret: str) -> str:
    """The SDS secret holding the credential of the Secret `<namespace>/<name>`."""
    return f"credential_injector/{secret}"


def _injector_filter(key: str) -> Any:
    """The connection manager's injector for a route `filters` key, `credential_injector/<namespace>/<name>/
    <header>/<overwrite|keep>`, disabled."""
    namespace, name, header, mode = key.removeprefix(_KEY_PREFIX).split("/")
    generic = generic_pb2.Generic(
        credential=secret_pb2.SdsSecretConfig(
            name=credential_secret_name(f"{namespace}/{name}"), sds_config=ads_source()
        ),
        header=header,
    )
    config = credential_injector_pb2.CredentialInjector(
        overwrite=mode == "overwrite",
        credential=extension_pb2.TypedExtensionConfig(name=_GENERIC, typed_config=packed(generic)),
    )
    return hcm.HttpFilter(name=_FILTER_PREFIX + key, typed_config=packed(config), disabled=True)


def credential_injector_http_filters(names: tuple[str, ...]) -> list[Any]:
    """The credential injectors the routes of a connection manager use: after rate and bandwidth limits,
    before the compressors (Envoy Gateway's order)."""
    return [_injector_filter(name) for name in sorted(names) if name.startswith(_KEY_PREFIX)]


_ENABLED = rc.FilterConfig(config=any_pb2.Any())


def credential_injector_configs(route: ir.HTTPRoute) -> dict[str, Any]:
    """The route's `typed_per_filter_config`: its injector enabled (the filter has no per-route settings)."""
    if route.credential_injection is None:
        return {}
    return {_FILTER_PREFIX + route.credential_injection.filter_key: packed(_ENABLED)}


def credential_secrets(gateway: ir.GatewayIR) -> list[Any]:
    """The SDS secrets of the Gateway's injected credentials, by name. Only the listeners and virtual hosts
    that inject credentials are looked into."""
    found: dict[str, Any] = {}
    for listener in gateway.http:
        if not any(f.startswith(_KEY_PREFIX) for f in listener.filters):
            continue
        for virtual_host in listener.virtual_hosts:
            if not any(f.startswith(_KEY_PREFIX) for f in virtual_host.filters):
                continue
            for route in virtual_host.routes:
                injection = route.credential_injection
                if injection is not None:
                    name = credential_secret_name(injection.secret)
                    found[name] = secret_pb2.Secret(
                        name=name,
                        generic_secret=secret_pb2.GenericSecret(
                            secret=base_pb2.DataSource(inline_bytes=injection.credential)
                        ),
                    )
    return [found[name] for name in sorted(found)]
