"""`XdsTranslator`: one Gateway's IR -> its `ResourceSet`, rebuilding only the pieces whose IR changed.

The caches follow the resources' own nesting, keyed by IR names and checked by IR content hashes:

    route configuration (by name)  <- IR listeners' hashes (see `routeconfigs`)
      virtual host                  <- VirtualHost.hash
        route record                <- HTTPRoute.hash
    listener (by name)              <- what its filter chains read (listener shells, L4 routes)
    cluster, load assignment        <- Destination.hash
    secret                          <- the certificate's content

A changed route rebuilds its Route, splices its VirtualHost from the cached records of the other routes,
and its RouteConfiguration from the cached records of the other virtual hosts. Nothing else is touched:
the other resources keep the very same `VersionedResource`, and a type with no change keeps the very
same mapping, so `diff` skips it without looking inside.

Each route configuration is built in two forms from the same route records: inline (state of the world)
and VHDS (delta clients, see `vhds`): a RouteConfiguration that reads its virtual hosts over VHDS, and a
VirtualHost resource per virtual host. A changed route re-splices its VirtualHost in both forms; delta
clients are sent that VirtualHost alone.

A cache entry is only ever kept for what the latest IR has, so memory follows the configuration."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import msgspec

from projections import ir
from projections.ir.security import RemoteJWKSCluster
from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
    VIRTUAL_HOST,
    ResourceSet,
    TypeDiff,
    VersionedResource,
    diff,
    versioned,
)
from projections.xds.translate import vhds
from projections.xds.translate.clusters import (
    UdpSplit,
    build_cluster,
    build_load_assignment,
    build_split_cluster,
    build_split_load_assignment,
    resolves_by_dns,
    udp_splits,
    zone_weights,
)
from projections.xds.translate.credentials import credential_secrets
from projections.xds.translate.listeners import SocketGroup, build_listener, rate_limit_types
from projections.xds.translate.names import cluster_name, http_route_configuration_name, listener_name
from projections.xds.translate.oidc import oidc_secrets
from projections.xds.translate.patches import ByType, apply_patches
from projections.xds.translate.ratelimits import RATELIMIT_CLUSTER, XdsSettings, build_ratelimit_cluster
from projections.xds.translate.render import decode_resource
from projections.xds.translate.routeconfigs import BuiltRouteConfiguration, RouteRecords, build_route_configuration
from projections.xds.translate.secrets import build_secret
from projections.xds.translate.security import build_jwks_cluster, remote_jwks_clusters
from projections.xds.translate.sequences import changed_positions, changed_span
from projections.xds.translate.telemetry import build_collector_cluster, build_tracing_cluster


class XdsUpdate(msgspec.Struct, frozen=True, kw_only=True):
    resources: ResourceSet
    changes: dict[str, TypeDiff]
    """Per type URL, the names updated (new or changed version) and removed since the previous update."""
    delta_changes: dict[str, TypeDiff] = {}
    """The same for what delta clients are served (`ResourceSet.delta_view`)."""
    patch_outcomes: dict[str, str | None] = {}
    """Per EnvoyPatchPolicy (`<namespace>/<name>`) of the Gateway: None when its patches applied, else why not."""


class _DeltaForm(msgspec.Struct, frozen=True, kw_only=True):
    """The VHDS form of one served (inline) RouteConfiguration."""

    inline: VersionedResource
    route_configuration: VersionedResource
    virtual_hosts: tuple[VersionedResource, ...]


def _replace_hosts(
    hosts: dict[str, VersionedResource],
    old: tuple[VersionedResource, ...],
    new: tuple[VersionedResource, ...],
    touched: set[str],
) -> None:
    """`hosts` with the virtual hosts `old` replaced by `new`, touching only those that differ (their names
    are added to `touched`)."""
    if old is new:
        return
    start, old_end, new_end = changed_span(old, new)
    if old_end - start == new_end - start:
        for p in changed_positions(old[start:old_end], new[start:new_end]):
            before, after = old[start + p], new[start + p]
            if before.name != after.name and hosts.get(before.name) is before:
                del hosts[before.name]
                touched.add(before.name)
            hosts[after.name] = after
            touched.add(after.name)
        return
    for before in old[start:old_end]:
        if hosts.get(before.name) is before:
            del hosts[before.name]
            touched.add(before.name)
    for after in new[start:new_end]:
        hosts[after.name] = after
        touched.add(after.name)


def _cluster_metrics(gateway: ir.GatewayIR) -> ir.Metrics | None:
    """The Gateway's metrics when they shape its route clusters (per-endpoint, request/response size stats)."""
    metrics = gateway.telemetry.metrics if gateway.telemetry is not None else None
    return metrics if metrics is not None and metrics.tracks_cluster_stats else None


def _listener_key(group: SocketGroup) -> tuple[object, ...]:
    """What a Listener reads: the HTTP listeners' shells (not their routes, which go over RDS, but which rate
    limit filters they need), all of L4."""
    return (
        tuple(
            (
                x.name,
                x.hostname,
                tuple(c.name for c in x.tls.certificates) if x.tls else (),
                x.rate_limit_types,
                x.security_filters,
                x.extension_filters,
                x.filters,
                _tls_settings(x.tls),
                x.client,
            )
            for x in group.https
        ),
        bool(group.http),
        rate_limit_types(group.http),
        tuple((x.filters, x.client, x.security_filters, x.extension_filters) for x in group.http),
        tuple(x.hash for x in group.l4),
        group.telemetry,
    )


def _tls_settings(tls: ir.TLSConfig | None) -> ir.TLSConfig | None:
    """What a listener reads of its TLS config: all but the certificates' content (which go over SDS)."""
    return msgspec.structs.replace(tls, certificates=()) if tls is not None else None


def _socket_groups(gateway: ir.GatewayIR) -> dict[str, SocketGroup]:
    groups: dict[str, SocketGroup] = {}

    def group(transport: str, address: str, port: int) -> SocketGroup:
        made = SocketGroup(gateway.name, transport, address, port, gateway.telemetry)
        return groups.setdefault(made.name, made)

    for http in gateway.http:
        found = group("tcp", http.address, http.port)
        (found.https if http.tls is not None else found.http).append(http)
    for l4 in gateway.l4:
        group("udp" if l4.protocol == "UDP" else "tcp", l4.address, l4.port).l4.append(l4)
    for tcp in [g for g in groups.values() if g.transport == "tcp"]:
        http3 = [x for x in tcp.https if x.client is not None and x.client.http3]
        if http3 and listener_name(gateway.name, "udp", tcp.address, tcp.port) not in groups:  # a UDP port is free
            group("quic", tcp.address, tcp.port).https.extend(http3)
    return groups


class _TypeBuilder:
    """The new mapping of one type, sharing the previous mapping when nothing in it changed."""

    def __init__(self, previous: Mapping[str, VersionedResource]) -> None:
        self._previous = previous
        self.resources: dict[str, VersionedResource] = {}
        self._changed = False

    def put(self, resource: VersionedResource) -> None:
        if self._previous.get(resource.name) is not resource:
            self._changed = True
        self.resources[resource.name] = resource

    def result(self) -> dict[str, VersionedResource]:
        unchanged = not self._changed and len(self.resources) == len(self._previous)
        return self._previous if unchanged and isinstance(self._previous, dict) else self.resources


def _split_key(backends: Sequence[tuple[ir.Destination, int]]) -> str:
    """What a UDP route's split cluster and its endpoints are built from."""
    return "".join(f"{destination.hash}:{weight};" for destination, weight in backends)


def _same_or(cached: tuple[object, VersionedResource] | None, fresh: VersionedResource) -> VersionedResource:
    """The cached resource when `fresh` has its version (the IR changed elsewhere): unchanged stays identical."""
    return cached[1] if cached is not None and cached[1].version == fresh.version else fresh


class XdsTranslator:
    """Holds one node group's caches; `update` turns each new GatewayIR into its ResourceSet."""

    def __init__(self, settings: XdsSettings | None = None, route_records: RouteRecords | None = None) -> None:
        self.settings = settings or XdsSettings()
        self._route_records = route_records if route_records is not None else RouteRecords()  # a fleet shares one
        self._current = ResourceSet()
        self._unpatched = ResourceSet()  # what the builders made, before EnvoyPatchPolicies: their caches' base
        self._route_configurations: dict[str, BuiltRouteConfiguration] = {}
        self._listeners: dict[str, tuple[tuple[object, ...], VersionedResource | None]] = {}
        self._clusters: dict[str, tuple[str, VersionedResource]] = {}
        self._load_assignments: dict[str, tuple[str, VersionedResource]] = {}
        self._secrets: dict[str, tuple[ir.Certificate, VersionedResource]] = {}
        self._generic_secrets: dict[str, VersionedResource] = {}  # OIDC and injected credentials
        self._destinations_key: tuple[object, ...] | None = None
        self._delta_forms: dict[str, _DeltaForm] = {}
        self._touched_hosts: set[str] = set()  # the VirtualHosts the last update replaced, added or removed
        # EnvoyPatchPolicy: (patches, the unpatched mappings they read) -> (patched mappings, outcomes)
        self._patched: tuple[tuple[ir.EnvoyPatch, ...], dict[str, object], ByType, dict[str, str | None]] | None = None

    @property
    def resources(self) -> ResourceSet:
        return self._current

    @property
    def patch_outcomes(self) -> dict[str, str | None]:
        """The outcome of each EnvoyPatchPolicy of the last update (see `XdsUpdate.patch_outcomes`)."""
        return self._patched[3] if self._patched is not None else {}

    def update(self, gateway: ir.GatewayIR) -> ResourceSet:
        return self.apply(gateway).resources

    def apply(self, gateway: ir.GatewayIR) -> XdsUpdate:
        served, previous = self._current, self._unpatched
        groups = _socket_groups(gateway)
        route_configurations = self._build_route_configurations(gateway, groups, previous)
        http2 = frozenset().union(*(r.http2_destinations for r in self._route_configurations.values()))
        by_type = {
            LISTENER: self._build_listeners(groups, previous),
            ROUTE_CONFIGURATION: route_configurations,
            SECRET: self._build_secrets(gateway, previous),
        }
        global_limits = any("Global" in x.rate_limit_types for x in gateway.http)
        jwks = tuple(remote_jwks_clusters(gateway))
        tracing = gateway.telemetry.tracing if gateway.telemetry is not None else None
        collectors = gateway.telemetry.collectors if gateway.telemetry is not None else ()
        metrics = _cluster_metrics(gateway)
        splits = udp_splits(gateway)
        destinations_key = (
            gateway.destinations,  # compared item by item, by identity first: cheap when they are the same
            tuple((name, tuple((d.name, weight) for d, weight in backends)) for name, backends in splits),
            http2,
            global_limits,
            tuple(v.hash for v in gateway.cluster_variants),
            jwks,
            tracing,
            collectors,
            gateway.backend_tls,
            metrics,
        )
        if destinations_key == self._destinations_key:  # the common case: a route changed, no backend did
            by_type[CLUSTER] = previous.by_type.get(CLUSTER, {})
            by_type[CLUSTER_LOAD_ASSIGNMENT] = previous.by_type.get(CLUSTER_LOAD_ASSIGNMENT, {})
        else:
            by_type[CLUSTER] = self._build_clusters(
                gateway, http2, previous, global_limits, splits, jwks, tracing, collectors, metrics
            )
            by_type[CLUSTER_LOAD_ASSIGNMENT] = self._build_load_assignments(gateway, previous, splits)
            self._destinations_key = destinations_key
        self._unpatched = ResourceSet(by_type={t: m for t, m in by_type.items() if m})
        outcomes: dict[str, str | None] = {}
        if gateway.envoy_patches:
            by_type, outcomes = self._patch(gateway.envoy_patches, by_type)
        else:
            self._patched = None
        self._current = ResourceSet(
            by_type={t: m for t, m in by_type.items() if m},
            delta_by_type=self._build_delta_forms(by_type.get(ROUTE_CONFIGURATION, {}), served),
        )
        return XdsUpdate(
            resources=self._current,
            changes=diff(served, self._current),
            delta_changes=self._delta_changes(served),
            patch_outcomes=outcomes,
        )

    def _delta_changes(self, served: ResourceSet) -> dict[str, TypeDiff]:
        """`diff` of what delta clients were and are served; for VirtualHosts, of the names `_build_delta_forms`
        touched only (a changed route must not cost a look at every virtual host)."""

        def without_hosts(resources: ResourceSet) -> ResourceSet:
            return ResourceSet(by_type={t: m for t, m in resources.delta_view().by_type.items() if t != VIRTUAL_HOST})

        changes = diff(without_hosts(served), without_hosts(self._current))
        before = served.of_type(VIRTUAL_HOST, delta=True)
        after = self._current.of_type(VIRTUAL_HOST, delta=True)
        updated = tuple(
            sorted(
                n
                for n in self._touched_hosts
                if n in after and (n not in before or before[n].version != after[n].version)
            )
        )
        removed = tuple(sorted(n for n in self._touched_hosts if n in before and n not in after))
        if updated or removed:
            changes[VIRTUAL_HOST] = TypeDiff(updated=updated, removed=removed)
        return changes

    def _build_delta_forms(
        self, route_configurations: Mapping[str, VersionedResource], served: ResourceSet
    ) -> dict[str, dict[str, VersionedResource]]:
        """The VHDS form of `route_configurations` (as served: patched): built along with the inline form when no
        patch changed it, else split from the patched message. The VirtualHost mapping of the previous update
        is copied and only the virtual hosts of changed route configurations are replaced in it."""
        forms: dict[str, _DeltaForm] = {}
        for name, inline in route_configurations.items():
            known = self._delta_forms.get(name)
            built = self._route_configurations.get(name)
            if known is not None and known.inline is inline:
                forms[name] = known
            elif built is not None and built.resource is inline:
                forms[name] = _DeltaForm(inline=inline, route_configuration=built.vhds, virtual_hosts=built.vhds_hosts)
            elif known is not None and known.inline.version == inline.version:
                forms[name] = known
            else:
                configuration, split_hosts = vhds.split(decode_resource(ROUTE_CONFIGURATION, inline.body))
                forms[name] = _DeltaForm(inline=inline, route_configuration=configuration, virtual_hosts=split_hosts)
        previous_hosts = served.delta_by_type.get(VIRTUAL_HOST, {})
        self._touched_hosts = set()
        if len(forms) == len(self._delta_forms) and all(self._delta_forms.get(n) is f for n, f in forms.items()):
            hosts: dict[str, VersionedResource] = previous_hosts
        else:
            hosts = dict(previous_hosts)
            for name, known in self._delta_forms.items():
                if name not in forms:
                    _replace_hosts(hosts, known.virtual_hosts, (), self._touched_hosts)
            for name, form in forms.items():
                known = self._delta_forms.get(name)
                old = known.virtual_hosts if known is not None else ()
                _replace_hosts(hosts, old, form.virtual_hosts, self._touched_hosts)
        self._delta_forms = forms
        configurations = _TypeBuilder(served.delta_by_type.get(ROUTE_CONFIGURATION, {}))
        for form in forms.values():
            configurations.put(form.route_configuration)
        out: dict[str, dict[str, VersionedResource]] = {
            ROUTE_CONFIGURATION: configurations.result(),
            VIRTUAL_HOST: hosts,
        }
        return {t: m for t, m in out.items() if m}

    def _patch(self, patches: tuple[ir.EnvoyPatch, ...], by_type: ByType) -> tuple[ByType, dict[str, str | None]]:
        """`by_type` patched; the patched mappings of the last call are reused while their inputs are the same."""
        bases: dict[str, object] = {p.type_url: by_type.get(p.type_url) for p in patches}
        cached = self._patched
        if cached is not None and cached[0] == patches and all(cached[1][t] is b for t, b in bases.items()):
            return {**by_type, **cached[2]}, cached[3]
        patched, outcomes = apply_patches(by_type, patches)
        self._patched = (patches, bases, {t: patched[t] for t in bases if t in patched}, outcomes)
        return patched, outcomes

    def _build_route_configurations(
        self, gateway: ir.GatewayIR, groups: Mapping[str, SocketGroup], previous: ResourceSet
    ) -> dict[str, VersionedResource]:
        wanted: dict[str, list[ir.HTTPListener]] = {}
        http3_ports: dict[str, int] = {}  # HTTPS listener -> the port it serves HTTP/3 on
        for group in groups.values():
            if group.transport == "quic":
                http3_ports.update((listener.name, group.port) for listener in group.https)
                continue
            if group.http:
                wanted[http_route_configuration_name(gateway.name, group.port)] = group.http
            for listener in group.https:
                wanted[listener.name] = [listener]
        metrics = gateway.telemetry.metrics if gateway.telemetry is not None else None
        stats = metrics is not None and metrics.virtual_host_stats
        built = {
            name: build_route_configuration(
                name, listeners, self._route_configurations.get(name), self._route_records, http3_ports.get(name), stats
            )
            for name, listeners in wanted.items()
        }
        self._route_configurations = built
        out = _TypeBuilder(previous.of_type(ROUTE_CONFIGURATION))
        for entry in built.values():
            out.put(entry.resource)
        return out.result()

    def _build_listeners(
        self, groups: Mapping[str, SocketGroup], previous: ResourceSet
    ) -> dict[str, VersionedResource]:
        kept: dict[str, tuple[tuple[object, ...], VersionedResource | None]] = {}
        out = _TypeBuilder(previous.of_type(LISTENER))
        for name, group in groups.items():
            key = _listener_key(group)
            cached = self._listeners.get(name)
            if cached is None or cached[0] != key:
                route_configuration = http_route_configuration_name(group.gateway, group.port)
                message = build_listener(group, route_configuration, self.settings)
                cached = (key, versioned(message) if message is not None else None)
            kept[name] = cached
            if cached[1] is not None:
                out.put(cached[1])
        self._listeners = kept
        return out.result()

    def _build_clusters(
        self,
        gateway: ir.GatewayIR,
        http2: frozenset[str],
        previous: ResourceSet,
        global_limits: bool,
        splits: Sequence[UdpSplit],
        jwks: tuple[RemoteJWKSCluster, ...] = (),
        tracing: ir.Tracing | None = None,
        collectors: tuple[ir.Collector, ...] = (),
        metrics: ir.Metrics | None = None,
    ) -> dict[str, VersionedResource]:
        kept: dict[str, tuple[str, VersionedResource]] = {}
        out = _TypeBuilder(previous.of_type(CLUSTER))

        def put(name: str, key: str, build: Callable[[], Any]) -> None:
            """The cluster `name`, rebuilt only when its `key` (what it is built from) changed."""
            cached = self._clusters.get(name)
            if cached is None or cached[0] != key:
                cached = (key, _same_or(cached, versioned(build())))
            kept[name] = cached
            out.put(cached[1])

        if tracing is not None:
            put(tracing.cluster, msgspec.json.encode(tracing).decode(), partial(build_tracing_cluster, tracing))
        for collector in collectors:
            put(collector.cluster, f"{collector.host}:{collector.port}", partial(build_collector_cluster, collector))
        for remote in jwks:
            put(remote.name, remote.hash_key, partial(build_jwks_cluster, remote))
        if global_limits:
            put(RATELIMIT_CLUSTER, "", partial(build_ratelimit_cluster, self.settings))
        backend_tls_key = msgspec.json.encode(gateway.backend_tls).decode() if gateway.backend_tls is not None else ""
        stats = f"/stats:{metrics.per_endpoint_stats}:{metrics.request_response_sizes_stats}" if metrics else ""
        for destination in gateway.destinations:
            for variant in (False, True) if destination.name in http2 else (False,):
                build = partial(
                    build_cluster, destination, http2=variant, backend_tls=gateway.backend_tls, metrics=metrics
                )
                put(cluster_name(destination.name, http2=variant), destination.hash + backend_tls_key + stats, build)
        by_name = {d.name: d for d in gateway.destinations}
        for settings in gateway.cluster_variants:
            target = by_name.get(settings.destination)
            if target is not None:
                build = partial(
                    build_cluster,
                    target,
                    http2=settings.http2,
                    variant=settings,
                    backend_tls=gateway.backend_tls,
                    metrics=metrics,
                )
                put(settings.name, target.hash + settings.hash + backend_tls_key + stats, build)
        for name, backends in splits:
            put(name, _split_key(backends) + stats, partial(build_split_cluster, name, backends, metrics))
        self._clusters = kept
        return out.result()

    def _build_load_assignments(
        self, gateway: ir.GatewayIR, previous: ResourceSet, splits: Sequence[UdpSplit]
    ) -> dict[str, VersionedResource]:
        kept: dict[str, tuple[str, VersionedResource]] = {}
        out = _TypeBuilder(previous.of_type(CLUSTER_LOAD_ASSIGNMENT))
        for destination in gateway.destinations:
            if resolves_by_dns(destination):
                continue
            cached = self._load_assignments.get(destination.name)
            if cached is None or cached[0] != destination.hash:
                cached = (destination.hash, _same_or(cached, versioned(build_load_assignment(destination))))
            kept[destination.name] = cached
            out.put(cached[1])
        by_name = {d.name: d for d in gateway.destinations}
        for variant in gateway.cluster_variants:  # those that weigh zones have endpoints of their own
            target, weights = by_name.get(variant.destination), zone_weights(variant)
            if target is None or weights is None or resolves_by_dns(target):
                continue
            key = target.hash + variant.hash
            cached = self._load_assignments.get(variant.name)
            if cached is None or cached[0] != key:
                built = build_load_assignment(target, name=variant.name, zone_weights=weights)
                cached = (key, _same_or(cached, versioned(built)))
            kept[variant.name] = cached
            out.put(cached[1])
        for name, backends in splits:
            if any(resolves_by_dns(destination) for destination, _ in backends):
                continue  # endpoints inline, resolved by DNS (`build_split_cluster`)
            key = _split_key(backends)
            cached = self._load_assignments.get(name)
            if cached is None or cached[0] != key:
                cached = (key, _same_or(cached, versioned(build_split_load_assignment(name, backends))))
            kept[name] = cached
            out.put(cached[1])
        self._load_assignments = kept
        return out.result()

    def _build_secrets(self, gateway: ir.GatewayIR, previous: ResourceSet) -> dict[str, VersionedResource]:
        kept: dict[str, tuple[ir.Certificate, VersionedResource]] = {}
        generic: dict[str, VersionedResource] = {}
        out = _TypeBuilder(previous.of_type(SECRET))
        tls_configs = [x.tls for x in gateway.http if x.tls] + [x.tls for x in gateway.l4 if x.tls]
        certificates = [certificate for config in tls_configs for certificate in config.certificates]
        client = gateway.backend_tls.client_certificate if gateway.backend_tls is not None else None
        if client is not None and any(d.tls is not None for d in gateway.destinations):
            certificates.append(client)  # what Envoy presents to backends reached over TLS
        for certificate in certificates:
            if certificate.name in kept:
                continue
            cached = self._secrets.get(certificate.name)
            if cached is None or cached[0] != certificate:
                cached = (certificate, versioned(build_secret(certificate)))
            kept[certificate.name] = cached
            out.put(cached[1])
        for secret in (*oidc_secrets(gateway), *credential_secrets(gateway)):
            fresh = versioned(secret)
            known = self._generic_secrets.get(fresh.name)
            generic[fresh.name] = known if known is not None and known.version == fresh.version else fresh
            out.put(generic[fresh.name])
        self._secrets = kept
        self._generic_secrets = generic
        return out.result()


def build_resource_set(gateway: ir.GatewayIR, settings: XdsSettings | None = None) -> ResourceSet:
    """The resources of `gateway`, built from scratch (what `XdsTranslator.update` must always equal)."""
    return XdsTranslator(settings).update(gateway)
