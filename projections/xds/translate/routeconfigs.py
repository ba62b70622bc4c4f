"""Route configurations built incrementally, in both forms (inline for state of the world, VHDS for delta).

    route configuration (by name)  <- its IR listeners' hashes
      virtual host (by position)    <- VirtualHost.hash
        route record (by position)  <- HTTPRoute.hash

A new listener IR is compared with the one the configuration was built from, block by block
(`sequences`): the virtual hosts that are the same objects keep their built form, record, hash and
VirtualHost resource in place, and only the changed ones are rebuilt, in a virtual host likewise only
the changed routes. What remains proportional to the whole configuration is done in C: joining the
records into the RouteConfiguration's bytes and hashing its version.

Versions are content hashes: of the serialised message for a VirtualHost's name and domain, and for a
RouteConfiguration or VirtualHost of the IR hashes it was built from (the bytes are a pure function of
them) and of `BUILD_VERSION`, so equal IR gives equal versions on every replica without hashing a megabyte.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import cast

import msgspec

from projections import ir
from projections.xds.resources import ROUTE_CONFIGURATION, VersionedResource
from projections.xds.splice import any_head
from projections.xds.translate import vhds
from projections.xds.translate.extensions import ext_proc_http2_destinations
from projections.xds.translate.routes import (
    route_configuration_ends,
    route_record,
    virtual_host_record,
    virtual_host_tail,
)
from projections.xds.translate.security import ext_auth_http2_destinations
from projections.xds.translate.sequences import changed_positions, changed_span, moved_end

BUILD_VERSION = "egd-xds-1"
"""Part of every RouteConfiguration version: change it whenever the same IR starts giving other bytes."""

RouteRecordOf = Callable[[ir.HTTPRoute], bytes]


class RouteRecords:
    """Route records by the IR route's content hash, shared by the translators of a fleet: a route attached to
    several Gateways is the same IR route in each, serialised once. Bounded in two generations of `capacity`
    records: one not asked for during a whole generation is dropped (the translators keep the records they
    serve; this only spares serialising one route again for another Gateway)."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._capacity = capacity
        self._young: dict[str, bytes] = {}
        self._old: dict[str, bytes] = {}

    def __call__(self, route: ir.HTTPRoute) -> bytes:
        record = self._young.get(route.hash)
        if record is None:
            record = self._old.get(route.hash) or route_record(route)
            if len(self._young) >= self._capacity:
                self._old, self._young = self._young, {}
            self._young[route.hash] = record
        return record


class BuiltVirtualHost(msgspec.Struct, kw_only=True):
    source: ir.VirtualHost
    virtual_host_stats: bool
    route_records: list[bytes]  # one per route of `source`, in order
    route_records_size: int  # their bytes in all
    grpc_destinations: frozenset[str]  # destinations its gRPC routes reach
    http2_destinations: frozenset[str]  # those and the gRPC services of its filters
    record: bytes
    vhds: VersionedResource  # the same virtual host as a VirtualHost resource


class HostColumns(msgspec.Struct, kw_only=True):
    """The built virtual hosts of a route configuration in order, with what it reads off them in lists of their
    own (so that joining records or hashes is one call in C)."""

    hosts: list[BuiltVirtualHost]
    records: list[bytes]
    records_size: int  # the bytes of all records
    hashes: list[str]
    vhds: list[VersionedResource]

    def copy(self) -> HostColumns:
        return HostColumns(
            hosts=list(self.hosts),
            records=list(self.records),
            records_size=self.records_size,
            hashes=list(self.hashes),
            vhds=list(self.vhds),
        )

    def put(self, position: int, built: BuiltVirtualHost) -> None:
        self.records_size += len(built.record) - len(self.records[position])
        self.hosts[position] = built
        self.records[position] = built.record
        self.hashes[position] = built.source.hash
        self.vhds[position] = built.vhds

    def splice(self, start: int, end: int, built: list[BuiltVirtualHost]) -> None:
        """Replace the hosts from `start` to `end` (excluded) with `built`."""
        records = [b.record for b in built]
        self.records_size += sum(map(len, records)) - sum(map(len, self.records[start:end]))
        self.hosts[start:end] = built
        self.records[start:end] = records
        self.hashes[start:end] = [b.source.hash for b in built]
        self.vhds[start:end] = [b.vhds for b in built]


class BuiltRouteConfiguration(msgspec.Struct, kw_only=True):
    key: tuple[str | int | None, ...]
    virtual_host_stats: bool
    http3_port: int | None
    resource: VersionedResource
    served: tuple[ir.VirtualHost, ...]  # the virtual hosts it serves, in order
    columns: HostColumns  # their built forms, in the same order
    http2_destinations: frozenset[str]
    vhds: VersionedResource  # the VHDS form of `resource`
    vhds_hosts: tuple[VersionedResource, ...]  # its VirtualHost resources (a placeholder when it has none)


def _grpc_destinations(routes: Iterable[ir.HTTPRoute]) -> frozenset[str]:
    return frozenset(
        destination
        for r in routes
        if r.grpc
        for destination in (*(b.destination for b in r.backends), *(m.destination for m in r.mirrors))
    )


def _route_records(
    virtual_host: ir.VirtualHost, previous: BuiltVirtualHost | None, record_of: RouteRecordOf
) -> tuple[list[bytes], int, frozenset[str]]:
    """The records of `virtual_host`'s routes, their size in bytes and its gRPC destinations, reusing
    `previous`'s where routes are the same."""
    routes = virtual_host.routes
    if previous is None:
        records = [record_of(r) for r in routes]
        return records, sum(map(len, records)), _grpc_destinations(routes)
    old = previous.source.routes
    start, old_end, new_end = changed_span(old, routes)
    gone, came = old[start:old_end], routes[start:new_end]
    gone_records = previous.route_records[start:old_end]
    moved = moved_end(gone, came)
    if moved:  # one route moved past the others (which keep their records): one record to make at most
        before, after = (gone[0], came[-1]) if moved > 0 else (gone[-1], came[0])
        record = gone_records[0 if moved > 0 else -1] if before.hash == after.hash else record_of(after)
        middle = [*gone_records[1:], record] if moved > 0 else [record, *gone_records[:-1]]
        dropped, added = [before], [after]
        size_change = len(record) - len(gone_records[0 if moved > 0 else -1])
    else:  # looked up by hash in C: a long span is often the same routes, shifted
        by_hash: dict[str, bytes] = dict(zip(map(_hash_of, gone), gone_records, strict=True))
        found = list(map(by_hash.get, map(_hash_of, came)))
        if None in found:
            middle = [record or record_of(r) for r, record in zip(came, found, strict=True)]
        else:
            middle = cast(list[bytes], found)
        dropped, added = list(gone), list(came)
        size_change = sum(map(len, middle)) - sum(map(len, gone_records))
    records = previous.route_records[:start] + middle + previous.route_records[old_end:]
    size = previous.route_records_size + size_change
    if any(map(_grpc_of, dropped)) or any(map(_grpc_of, added)):
        return records, size, _grpc_destinations(routes)
    return records, size, previous.grpc_destinations


_hash_of = operator.attrgetter("hash")
_grpc_of = operator.attrgetter("grpc")


def _build_virtual_host(
    route_configuration: str,
    virtual_host: ir.VirtualHost,
    previous: BuiltVirtualHost | None,
    virtual_host_stats: bool,
    record_of: RouteRecordOf,
) -> BuiltVirtualHost:
    route_records, size, grpc = _route_records(virtual_host, previous, record_of)
    tail = virtual_host_tail(virtual_host, virtual_host_stats=virtual_host_stats)
    name = vhds.virtual_host_name(route_configuration, virtual_host.hostname)
    stats = "\nvirtual host stats" if virtual_host_stats else ""
    version = hashlib.sha256(f"{BUILD_VERSION}\n{name}{stats}\n{virtual_host.hash}".encode()).hexdigest()
    body = vhds.virtual_host_body(route_configuration, virtual_host.hostname, route_records, size, tail)
    return BuiltVirtualHost(
        source=virtual_host,
        virtual_host_stats=virtual_host_stats,
        route_records=route_records,
        route_records_size=size,
        grpc_destinations=grpc,
        http2_destinations=grpc | ext_auth_http2_destinations(virtual_host) | ext_proc_http2_destinations(virtual_host),
        record=virtual_host_record(virtual_host, route_records, size, virtual_host_stats=virtual_host_stats),
        vhds=VersionedResource(name=name, version=version, body=body),
    )


def _specificity(listener: ir.HTTPListener) -> tuple[int, int]:
    """Exact hostnames first, then longer wildcards, then listeners without a hostname (Gateway API order)."""
    hostname = listener.hostname
    if not hostname:
        return (2, 0)
    return (1, -len(hostname)) if hostname.startswith("*") else (0, 0)


def served_virtual_hosts(listeners: Sequence[ir.HTTPListener]) -> tuple[ir.VirtualHost, ...]:
    """The virtual hosts of listeners sharing a route configuration, each domain once: the most specific
    listener (first in `listeners`) serves it."""
    if len(listeners) == 1:
        return listeners[0].virtual_hosts
    taken: set[str] = set()
    served = []
    for listener in listeners:
        for virtual_host in listener.virtual_hosts:
            if virtual_host.hostname not in taken:
                taken.add(virtual_host.hostname)
                served.append(virtual_host)
    return tuple(served)


def _reusable(built: BuiltVirtualHost, virtual_host: ir.VirtualHost, virtual_host_stats: bool) -> bool:
    return built.source.hash == virtual_host.hash and built.virtual_host_stats == virtual_host_stats


def _built_hosts(
    name: str,
    served: tuple[ir.VirtualHost, ...],
    previous: BuiltRouteConfiguration | None,
    virtual_host_stats: bool,
    record_of: RouteRecordOf,
) -> tuple[HostColumns, list[BuiltVirtualHost], list[BuiltVirtualHost]]:
    """The built virtual hosts of `served`; and those of `previous` that were replaced, and their replacements
    (what they change in the configuration's aggregates)."""
    if previous is None:
        built = [_build_virtual_host(name, v, None, virtual_host_stats, record_of) for v in served]
        columns = HostColumns(hosts=[], records=[], records_size=0, hashes=[], vhds=[])
        columns.splice(0, 0, built)
        return columns, [], built
    old, columns = previous.served, previous.columns.copy()
    replaced: list[BuiltVirtualHost] = []
    added: list[BuiltVirtualHost] = []
    if previous.virtual_host_stats != virtual_host_stats:  # every virtual host changes
        start, old_end, new_end = 0, len(old), len(served)
    else:
        start, old_end, new_end = changed_span(old, served)
        if old_end - start == new_end - start:  # replaced in place: only the positions that changed
            for p in changed_positions(old[start:old_end], served[start:new_end]):
                cached, virtual_host = columns.hosts[start + p], served[start + p]
                if not _reusable(cached, virtual_host, virtual_host_stats):  # `cached` may be another host: its
                    replaced.append(cached)  # records are only reused by their routes' hashes
                    added.append(_build_virtual_host(name, virtual_host, cached, virtual_host_stats, record_of))
                    columns.put(start + p, added[-1])
            return columns, replaced, added
    replaced = columns.hosts[start:old_end]
    by_name = {b.source.name: b for b in replaced}
    for virtual_host in served[start:new_end]:
        found = by_name.get(virtual_host.name)
        if found is None or not _reusable(found, virtual_host, virtual_host_stats):
            found = _build_virtual_host(name, virtual_host, found, virtual_host_stats, record_of)
        added.append(found)
    columns.splice(start, old_end, added)
    return columns, replaced, added


def build_route_configuration(
    name: str,
    listeners: Iterable[ir.HTTPListener],
    previous: BuiltRouteConfiguration | None,
    record_of: RouteRecordOf,
    http3_port: int | None = None,
    virtual_host_stats: bool = False,
) -> BuiltRouteConfiguration:
    """The route configuration `name` of `listeners` (those sharing it), from `previous` (its last build)."""
    ordered = sorted(listeners, key=_specificity)
    key = (str(virtual_host_stats), *(listener.hash for listener in ordered), http3_port)
    if previous is not None and previous.key == key:
        return previous
    served = served_virtual_hosts(ordered)
    columns, replaced, added = _built_hosts(name, served, previous, virtual_host_stats, record_of)
    head, tail = route_configuration_ends(name, http3_port)
    any_start = any_head(ROUTE_CONFIGURATION, len(head) + columns.records_size + len(tail))
    body = b"".join([any_start, head, *columns.records, tail])  # one copy of the records
    advertised = f"\nh3={http3_port}" if http3_port is not None else ""
    stats = "\nvirtual host stats" if virtual_host_stats else ""
    hasher = hashlib.sha256(f"{BUILD_VERSION}\n{name}{stats}\n".encode())
    hasher.update("".join(columns.hashes).encode())
    hasher.update(advertised.encode())
    resource = VersionedResource(name=name, version=hasher.hexdigest(), body=body)
    if previous is not None and not any(b.http2_destinations for b in (*replaced, *added)):
        http2 = previous.http2_destinations
    else:
        http2 = frozenset().union(*[b.http2_destinations for b in columns.hosts if b.http2_destinations])
    vhds_hosts = tuple(columns.vhds)
    if not vhds_hosts:
        vhds_hosts = previous.vhds_hosts if previous is not None and not previous.served else (vhds.placeholder(name),)
    if previous is not None and previous.http3_port == http3_port:
        vhds_configuration = previous.vhds
    else:
        vhds_configuration = vhds.route_configuration(name, http3_port)
    return BuiltRouteConfiguration(
        key=key,
        virtual_host_stats=virtual_host_stats,
        http3_port=http3_port,
        resource=resource,
        served=served,
        columns=columns,
        http2_destinations=http2,
        vhds=vhds_configuration,
        vhds_hosts=vhds_hosts,
    )
