"""The incremental translator: resources in, per-Gateway IR and status for every object out.

Translation is split into units, each a pure function of what it reads through a `Reader`:

    class      GatewayClass            -> its status
    gateway    Gateway (+ class, TLS Secrets, ReferenceGrants)        -> GatewayContext (validated listeners)
    route      route (+ parent GatewayContexts, Services, Backends, grants, filters, namespaces)
                                       -> RouteResult (status, what it adds to each listener)
    policy     any policy kind (+ its targets, rival policies, the routes that override it, the Gateways
               using a backend it targets)                            -> its status
    patch      EnvoyPatchPolicy (+ its Gateway)                       -> its status (Accepted)
    client     Gateway's ClientTrafficPolicies (+ CA certificates)   -> per listener ClientSettings
    dest       Service + EndpointSlices, or Backend (+ BackendTLSPolicy, CA certificates) -> Destination
    assemble   GatewayContext + attached RouteResults + Destinations  -> GatewayIR and Gateway status

The index maps every token a unit read (an object's key, a (kind, namespace) listing, a Service's
EndpointSlices, another unit's result) to the units that read it. An event invalidates the tokens of the
object before and after the change; only the units that read them run again, in dependency order, and a
unit whose result did not change wakes nobody. A fresh `Translator` fed the final state computes the same
thing from scratch: `translate()` is exactly that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.assemble import assemble_gateway
from projections.gatewayapi.attached import GatewayRoutes
from projections.gatewayapi.backends import Target, build_destination
from projections.gatewayapi.backendtls import check_backend_tls
from projections.gatewayapi.backendtraffic import check_backend_traffic
from projections.gatewayapi.clienttraffic import (
    ListenerClient,
    check_client_traffic,
    check_client_traffic_target,
    gateway_clients,
)
from projections.gatewayapi.extensions import KIND as EXTENSION
from projections.gatewayapi.extensions import extension_problems
from projections.gatewayapi.gateways import GatewayContext, gateway_class_status, gateway_context
from projections.gatewayapi.inputs import Inputs, Reader, Resource, SharedReads, Token, resource_tokens
from projections.gatewayapi.options import TranslateOptions
from projections.gatewayapi.patches import KIND as PATCH_KIND
from projections.gatewayapi.patches import gateway_patches, patch_policy_status
from projections.gatewayapi.policies import Check, Overriding, PolicyHooks, TargetCheck, policy_status
from projections.gatewayapi.policykinds import POLICY_KINDS
from projections.gatewayapi.routes import ROUTE_KINDS, RouteResult, translate_route
from projections.gatewayapi.security import KIND as SECURITY
from projections.gatewayapi.security import security_problems
from projections.gatewayapi.status import Status
from projections.gatewayapi.transitions import stamp

# What each policy kind's status reports it cannot honour (see `policies`).
CHECKS: dict[str, Check] = {
    "BackendTrafficPolicy": check_backend_traffic,
    "BackendTLSPolicy": check_backend_tls,
    "ClientTrafficPolicy": check_client_traffic,
    EXTENSION: extension_problems,
    SECURITY: security_problems,
}
# What each policy kind's status reports it cannot honour on one Gateway target.
TARGET_CHECKS: dict[str, TargetCheck] = {"ClientTrafficPolicy": check_client_traffic_target}

# ("class" | "gateway" | "client" | "route" | "policy" | "patch" | "assemble", ResourceKey) or ("dest", name)
Unit = tuple[str, Any]


class Deleted(msgspec.Struct, frozen=True, kw_only=True):
    """A change that removes the object at `key`."""

    key: ResourceKey


Change = Resource | Deleted


class Changes(msgspec.Struct, frozen=True, kw_only=True):
    """What one `apply` changed: Gateway IRs updated or removed (by `<namespace>/<name>`), statuses
    updated or removed (by object key)."""

    gateways: tuple[str, ...] = ()
    gateways_removed: tuple[str, ...] = ()
    statuses: tuple[ResourceKey, ...] = ()
    statuses_removed: tuple[ResourceKey, ...] = ()


class Translation(msgspec.Struct, frozen=True, kw_only=True):
    gateways: dict[str, ir.GatewayIR]
    statuses: dict[ResourceKey, Status]


class Translator:
    """Keeps the inputs, every unit's last result and the dependency index; `apply` folds changes in."""

    def __init__(self, options: TranslateOptions | None = None) -> None:
        self.options = options or TranslateOptions()
        self.inputs = Inputs()
        self._deps: dict[Token, set[Unit]] = defaultdict(set)
        self._reads: dict[Unit, set[Token]] = {}
        self._contexts: dict[ResourceKey, GatewayContext] = {}
        self._routes: dict[ResourceKey, RouteResult] = {}
        self._attached: dict[ResourceKey, GatewayRoutes] = {}  # gateway -> the routes attached to it
        # (policy kind, gateway) -> {route with a policy of its own: the listeners it attaches to} (Overridden)
        self._overrides: dict[tuple[str, ResourceKey], dict[ResourceKey, Overriding]] = {}
        # Service or Backend -> {gateway: how many of its routes' attachments use it} (backend policies' ancestors)
        self._backend_users: dict[ResourceKey, dict[ResourceKey, int]] = {}
        self._hooks = PolicyHooks(
            gateways=self._context,
            overrides=self._overridden,
            backend_users=self._using_backend,
            checks=CHECKS,
            target_checks=TARGET_CHECKS,
        )
        self._clients: dict[ResourceKey, dict[str, ListenerClient]] = {}  # gateway -> listener -> CTP settings
        self._targets: dict[str, Target] = {}
        self._destinations: dict[str, ir.Destination] = {}
        self._dest_users: dict[str, set[ResourceKey]] = defaultdict(set)  # destination -> gateways
        self._gateway_dests: dict[ResourceKey, set[str]] = {}
        self._irs: dict[str, ir.GatewayIR] = {}
        self._raw: dict[ResourceKey, Status] = {}  # status as translated, without lastTransitionTime
        self._statuses: dict[ResourceKey, Status] = {}  # with lastTransitionTime

    # --- reading results -------------------------------------------------------------------------------------

    @property
    def gateways(self) -> dict[str, ir.GatewayIR]:
        return dict(sorted(self._irs.items()))

    def gateway(self, name: str) -> ir.GatewayIR | None:
        """The IR of one Gateway (`<namespace>/<name>`), without copying the others."""
        return self._irs.get(name)

    def status(self, key: ResourceKey) -> Status | None:
        return self._statuses.get(key)

    @property
    def statuses(self) -> dict[ResourceKey, Status]:
        return dict(sorted(self._statuses.items()))

    @property
    def raw_statuses(self) -> dict[ResourceKey, Status]:
        """Statuses without lastTransitionTime: what the property test compares."""
        return dict(sorted(self._raw.items()))

    def result(self) -> Translation:
        return Translation(gateways=self.gateways, statuses=self.statuses)

    # --- folding changes in ----------------------------------------------------------------------------------

    def apply(self, changes: Iterable[Change], at: datetime | None = None) -> Changes:
        """Fold `changes` in and re-translate what they affect. `at` is the time of the event (stamped as the
        lastTransitionTime of conditions that change); without it, each object's own `changed_at`."""
        tokens: set[Token] = set()
        own: set[Unit] = set()
        for change in changes:
            if isinstance(change, Deleted):
                previous = self.inputs.remove(change.key)
                key = change.key
            else:
                previous = self.inputs.put(change)
                key = change.key
                tokens.update(resource_tokens(change))
            if previous is not None:
                tokens.update(resource_tokens(previous))
            if key.kind == "GatewayClass":
                own.add(("class", key))
            elif key.kind == "Gateway":
                own.add(("gateway", key))
            elif key.kind in ROUTE_KINDS:
                own.add(("route", key))
            elif key.kind in POLICY_KINDS:
                own.add(("policy", key))
            elif key.kind == PATCH_KIND:
                own.add(("patch", key))
        return self._run(tokens, own, at)

    def _run(self, tokens: set[Token], own: set[Unit], at: datetime | None) -> Changes:
        dirty: dict[str, set[Any]] = defaultdict(set)
        for unit in own:
            dirty[unit[0]].add(unit[1])
        self._wake(tokens, dirty)
        changed_status: set[ResourceKey] = set()
        changed_irs: set[str] = set()
        removed_irs: set[str] = set()

        for key in sorted(dirty.pop("class", ())):
            self._run_class(key, changed_status)
        for key in sorted(dirty.pop("gateway", ())):
            if self._run_gateway(key):
                dirty["assemble"].add(key)
                dirty["client"].add(key)
                self._wake({("gw", key)}, dirty)
        for key in sorted(dirty.pop("client", ())):
            if self._run_client(key):
                dirty["assemble"].add(key)
        shared: SharedReads = {}  # the inputs stay the same while the units run
        for key in sorted(dirty.pop("route", ())):
            self._run_route(key, dirty, changed_status, shared)
        for key in sorted(dirty.pop("policy", ())):
            self._run_policy(key, changed_status)
        for key in sorted(dirty.pop("patch", ())):
            self._run_patch_policy(key, changed_status)
        for name in sorted(dirty.pop("dest", ())):
            if self._run_destination(name):
                dirty["assemble"].update(self._dest_users.get(name, ()))
        for key in sorted(dirty.pop("assemble", ())):
            self._run_assemble(key, changed_status, changed_irs, removed_irs)

        stamped, removed = self._stamp(changed_status, at)
        return Changes(
            gateways=tuple(sorted(changed_irs)),
            gateways_removed=tuple(sorted(removed_irs)),
            statuses=tuple(sorted(stamped)),
            statuses_removed=tuple(sorted(removed)),
        )

    def dependencies(self) -> dict[Token, set[Unit]]:
        """The dependency index: for each token, the units that read it last time."""
        return {token: set(units) for token, units in self._deps.items()}

    def _wake(self, tokens: Iterable[Token], dirty: dict[str, set[Any]]) -> None:
        for token in tokens:
            for kind, subject in self._deps.get(token, ()):
                dirty[kind].add(subject)

    def _record(self, unit: Unit, reader: Reader | None) -> None:
        for token in self._reads.pop(unit, ()):
            readers = self._deps.get(token)
            if readers is not None:
                readers.discard(unit)
                if not readers:
                    del self._deps[token]
        if reader is not None:
            self._reads[unit] = reader.tokens
            for token in reader.tokens:
                self._deps[token].add(unit)

    def _set_status(self, key: ResourceKey, status: Status | None, changed: set[ResourceKey]) -> None:
        if status is None:
            if self._raw.pop(key, None) is not None:
                changed.add(key)
        elif self._raw.get(key) != status:
            self._raw[key] = status
            changed.add(key)

    # --- units -----------------------------------------------------------------------------------------------

    def _run_class(self, key: ResourceKey, changed: set[ResourceKey]) -> None:
        reader = Reader(self.inputs)
        result = gateway_class_status(reader, key)
        self._record(("class", key), reader if self.inputs.get(key) else None)
        self._set_status(key, result[0] if result else None, changed)

    def _run_gateway(self, key: ResourceKey) -> bool:
        """Re-validate a Gateway; whether its context changed."""
        reader = Reader(self.inputs)
        context = gateway_context(reader, key)
        if context is not None:
            patches = gateway_patches(reader, key, self.options.envoy_patch_policy)
            context = msgspec.structs.replace(context, envoy_patches=patches)
        self._record(("gateway", key), reader if self.inputs.get(key) else None)
        if self._contexts.get(key) == context:
            return False
        if context is None:
            self._contexts.pop(key, None)
        else:
            self._contexts[key] = context
        return True

    def _run_client(self, key: ResourceKey) -> bool:
        """The ClientTrafficPolicy settings of a Gateway's listeners; whether they changed."""
        context = self._contexts.get(key)
        reader = Reader(self.inputs)
        clients = gateway_clients(reader, context) if context else {}
        self._record(("client", key), reader if context is not None else None)
        if self._clients.get(key, {}) == clients:
            return False
        if clients:
            self._clients[key] = clients
        else:
            self._clients.pop(key, None)
        return True

    def _context(self, reader: Reader, key: ResourceKey) -> GatewayContext | None:
        reader.depend(("gw", key))
        return self._contexts.get(key)

    def _run_route(
        self, key: ResourceKey, dirty: dict[str, set[Any]], changed: set[ResourceKey], shared: SharedReads
    ) -> None:
        reader = Reader(self.inputs, shared)
        result = translate_route(reader, key, self._context)
        self._record(("route", key), reader if result is not None else None)
        previous = self._routes.get(key)
        if result is not None:
            self._routes[key] = result
        else:
            self._routes.pop(key, None)
        self._set_status(key, result.status if result else None, changed)
        self._track_overrides(key, previous, result, dirty)
        self._track_backends(previous, result, dirty)
        for target in result.targets if result else ():
            if self._targets.get(target.name) != target:
                self._targets[target.name] = target
                dirty["dest"].add(target.name)
        before = previous.attachments if previous else ()
        after = result.attachments if result else ()
        if before == after:
            return
        for attachment in before:
            attached = self._attached[attachment.gateway]
            attached.remove(key, attachment)
            if not attached:
                del self._attached[attachment.gateway]
            dirty["assemble"].add(attachment.gateway)
        for attachment in after:
            if attachment.gateway not in self._attached:
                self._attached[attachment.gateway] = GatewayRoutes(attachment.gateway)
            self._attached[attachment.gateway].add(key, attachment)
            dirty["assemble"].add(attachment.gateway)

    def _track_overrides(
        self, key: ResourceKey, previous: RouteResult | None, result: RouteResult | None, dirty: dict[str, set[Any]]
    ) -> None:
        """Keep `_overrides` current; wake the policies of the Gateways whose set changed."""

        def entries(found: RouteResult | None) -> dict[tuple[str, ResourceKey], Overriding]:
            if found is None or not found.policies:
                return {}
            listeners: dict[ResourceKey, set[str]] = defaultdict(set)
            for attachment in found.attachments:
                listeners[attachment.gateway].add(attachment.listener)
            return {
                (policy.kind, gateway): Overriding(listeners=tuple(sorted(names)), merged=policy.kind in found.merging)
                for policy in found.policies
                for gateway, names in listeners.items()
            }

        before, after = entries(previous), entries(result)
        if before == after:
            return
        for slot in before.keys() | after.keys():
            if before.get(slot) == after.get(slot):
                continue
            routes = self._overrides.setdefault(slot, {})
            if slot in after:
                routes[key] = after[slot]
            else:
                routes.pop(key, None)
                if not routes:
                    del self._overrides[slot]
            self._wake({("overrides", *slot)}, dirty)

    def _overridden(self, reader: Reader, kind: str, gateway: ResourceKey) -> dict[ResourceKey, Overriding]:
        reader.depend(("overrides", kind, gateway))
        return self._overrides.get((kind, gateway), {})

    def _track_backends(
        self, previous: RouteResult | None, result: RouteResult | None, dirty: dict[str, set[Any]]
    ) -> None:
        """Keep `_backend_users` current; wake the backend policies whose set of Gateways changed."""

        def uses(found: RouteResult | None) -> dict[tuple[ResourceKey, ResourceKey], int]:
            counts: dict[tuple[ResourceKey, ResourceKey], int] = {}
            if found is None or not found.attachments:
                return counts
            gateways = {a.gateway for a in found.attachments}
            for target in found.targets:
                for gateway in gateways:
                    pair = (target.key, gateway)
                    counts[pair] = counts.get(pair, 0) + 1
            return counts

        before, after = uses(previous), uses(result)
        if before == after:
            return
        for backend, gateway in before.keys() | after.keys():
            delta = after.get((backend, gateway), 0) - before.get((backend, gateway), 0)
            if not delta:
                continue
            users = self._backend_users.setdefault(backend, {})
            was = gateway in users
            count = users.get(gateway, 0) + delta
            if count > 0:
                users[gateway] = count
            else:
                del users[gateway]
            if not users:
                del self._backend_users[backend]
            if (gateway in users) != was:  # the set of Gateways using the backend changed
                self._wake({("backend-users", backend)}, dirty)

    def _using_backend(self, reader: Reader, backend: ResourceKey) -> list[ResourceKey]:
        reader.depend(("backend-users", backend))
        return sorted(self._backend_users.get(backend, ()))

    def _run_policy(self, key: ResourceKey, changed: set[ResourceKey]) -> None:
        reader = Reader(self.inputs)
        status = policy_status(reader, key, self._hooks)
        self._record(("policy", key), reader if self.inputs.get(key) else None)
        self._set_status(key, status, changed)

    def _run_patch_policy(self, key: ResourceKey, changed: set[ResourceKey]) -> None:
        reader = Reader(self.inputs)
        status = patch_policy_status(reader, key, self._context, self.options.envoy_patch_policy)
        self._record(("patch", key), reader if self.inputs.get(key) else None)
        self._set_status(key, status, changed)

    def _run_destination(self, name: str) -> bool:
        target = self._targets.get(name)
        if target is None:
            return False
        reader = Reader(self.inputs)
        destination = build_destination(reader, target)
        self._record(("dest", name), reader)
        if self._destinations.get(name) == destination:
            return False
        self._destinations[name] = destination
        return True

    def _run_assemble(
        self, key: ResourceKey, changed: set[ResourceKey], changed_irs: set[str], removed_irs: set[str]
    ) -> None:
        name = f"{key.namespace}/{key.name}"
        context = self._contexts.get(key)
        if context is None:
            self._set_status(key, None, changed)
            self._use_destinations(key, set())
            if self._irs.pop(name, None) is not None:
                removed_irs.add(name)
            return
        attached = self._attached.get(key) or GatewayRoutes(key)
        for dest in attached.destinations:
            if dest not in self._destinations:
                self._run_destination(dest)
        previous = self._irs.get(name)
        gateway_ir, status = assemble_gateway(context, attached, self._destinations, self._clients.get(key, {}))
        self._use_destinations(key, set(attached.destinations))
        self._set_status(key, status, changed)
        if previous is None or previous.hash != gateway_ir.hash:
            self._irs[name] = gateway_ir
            changed_irs.add(name)

    def _use_destinations(self, gateway: ResourceKey, names: set[str]) -> None:
        """Track which Gateways use each destination; forget destinations nobody uses."""
        previous = self._gateway_dests.get(gateway, set())
        for name in previous - names:
            users = self._dest_users[name]
            users.discard(gateway)
            if not users:
                del self._dest_users[name]
                self._destinations.pop(name, None)
                self._targets.pop(name, None)
                self._record(("dest", name), None)
        for name in names - previous:
            self._dest_users[name].add(gateway)
        if names:
            self._gateway_dests[gateway] = names
        else:
            self._gateway_dests.pop(gateway, None)

    # --- lastTransitionTime ----------------------------------------------------------------------------------

    def _stamp(self, keys: set[ResourceKey], at: datetime | None) -> tuple[set[ResourceKey], set[ResourceKey]]:
        stamped: set[ResourceKey] = set()
        removed: set[ResourceKey] = set()
        for key in keys:
            raw = self._raw.get(key)
            if raw is None:
                if self._statuses.pop(key, None) is not None:
                    removed.add(key)
                continue
            resource = self.inputs.get(key)
            when = at or (resource.changed_at if resource else None)
            self._statuses[key] = stamp(self._statuses.get(key), raw, when)
            stamped.add(key)
        return stamped, removed


def translate(resources: Iterable[Resource], options: TranslateOptions | None = None) -> Translation:
    """Translate `resources` from scratch."""
    translator = Translator(options)
    translator.apply(resources)
    return translator.result()
