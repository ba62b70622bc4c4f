"""HTTPRoute and GRPCRoute rules -> IR routes (before hostnames are known), with their precedence rank.

Precedence among routes of one virtual host follows Gateway API: Exact path over RegularExpression over
PathPrefix, then the longer path, then a method match, then more header matches, then more query param
matches; ties go to the route's namespace/name, then rule order, then match order.
"""

from __future__ import annotations

import re

import msgspec

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.backends import Problem, Target, resolve_backend
from projections.gatewayapi.inputs import Reader
from projections.resources.core import ConfigMap, Secret
from projections.resources.envoygateway import GROUP as EG_GROUP
from projections.resources.envoygateway import HTTPRouteFilter as EGHTTPRouteFilter
from projections.resources.envoygateway.httproutefilter import (
    CustomResponseBody,
    HTTPCredentialInjectionFilter,
    HTTPRouteFilterSpec,
)
from projections.resources.gatewayapi import (
    GRPCRoute,
    GRPCRouteMatch,
    HTTPHeaderFilter,
    HTTPRoute,
    HTTPRouteFilter,
    HTTPRouteMatch,
    SessionPersistence,
)
from projections.resources.quantities import DURATION_PATTERN
from projections.resources.references import BackendRef
from projections.resources.regex import re2_problem

RESPONSE_BODY_KEY = "response.body"  # the ConfigMap key a direct response's body is read from (Envoy Gateway's)
INJECTED_CREDENTIAL_KEY = "credential"  # the Secret key an injected credential is read from (Envoy Gateway's)
SESSION_FILTER = "stateful_session"  # the optional HTTP filter a route with session persistence needs
_PATH_RANK = {"Exact": 3, "RegularExpression": 2, "PathPrefix": 1}
_DURATION = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(r"([0-9]{1,5})(h|ms|m|s)")
_UNIT_MS = {"h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
# Rank: (-path kind, -path length, -has method, -headers, -query params, created (seconds), "namespace/name",
# rule, match): see `_rank`.
Rank = tuple[int, int, int, int, int, float, str, int, int]


def rule_index(rank: Rank) -> int:
    """The index of the route's rule a rank belongs to."""
    return rank[7]


class RankedRoute(msgspec.Struct, frozen=True, kw_only=True):
    rank: Rank
    route: ir.HTTPRoute


class CompiledRoute(msgspec.Struct, frozen=True, kw_only=True):
    """A route's rules as IR routes without hostname, and what translating them found wrong."""

    routes: tuple[RankedRoute, ...] = ()
    unresolved: tuple[Problem, ...] = ()  # ResolvedRefs=False, first one reported
    unsupported: Problem | None = None  # Accepted=False: the route is not programmed at all
    rejected: Problem | None = None  # Accepted=False for rules left out; the other rules are programmed
    targets: tuple[Target, ...] = ()
    l4: ir.L4Route | None = None  # TLS, TCP and UDP routes: one route whatever the listener
    rule_names: tuple[str | None, ...] = ()  # `rules[].name` by rule index (policies may target a named rule)


def parse_duration(text: str) -> int | None:
    """Milliseconds in a Gateway API duration (`1h2m3s4ms`), or None when it is not one."""
    if not _DURATION.match(text):
        return None
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(text))


class _Rule:
    """Mutable accumulator while one rule is translated."""

    def __init__(self) -> None:
        self.request_headers: ir.HeaderModifier | None = None
        self.response_headers: ir.HeaderModifier | None = None
        self.redirect: ir.Redirect | None = None
        self.url_rewrite: ir.URLRewrite | None = None
        self.direct_response: ir.DirectResponse | None = None
        self.mirrors: list[ir.Mirror] = []
        self.credential: ir.CredentialInjection | None = None
        self.invalid: str | None = None  # why the rule is left out (an HTTPRouteFilter that cannot apply)


def _header_modifier(spec: HTTPHeaderFilter) -> ir.HeaderModifier:
    return ir.HeaderModifier(
        set=tuple((h.name, h.value) for h in spec.set),
        add=tuple((h.name, h.value) for h in spec.add),
        remove=tuple(spec.remove),
    )


class _Translation:
    def __init__(self, reader: Reader, key: ResourceKey) -> None:
        self.reader = reader
        self.key = key
        self.unresolved: list[Problem] = []
        self.unsupported: Problem | None = None
        self.rejected: Problem | None = None
        self.targets: set[Target] = set()

    def fail(self, message: str) -> None:
        if self.unsupported is None:
            self.unsupported = Problem(reason="UnsupportedValue", message=message)

    def reject(self, index: int, rule: _Rule) -> bool:
        """Leave the rule out if it is invalid (as Envoy Gateway does: the route is not Accepted, its other
        rules are programmed); True when it is."""
        if rule.invalid is None:
            return False
        if self.rejected is None:
            message = f"failed to process route rule {index}: {rule.invalid}"
            self.rejected = Problem(reason="UnsupportedValue", message=message)
        return True

    def backends(self, refs: tuple[BackendRef, ...]) -> tuple[tuple[ir.WeightedBackend, ...], int]:
        backends: list[ir.WeightedBackend] = []
        invalid = 0
        for ref in refs:
            resolved = resolve_backend(self.reader, self.key, ref)
            if isinstance(resolved, Problem):
                self.unresolved.append(resolved)
                invalid += ref.weight
                continue
            self.targets.add(resolved)
            if ref.weight > 0:
                backends.append(ir.WeightedBackend(destination=resolved.name, weight=ref.weight))
        return tuple(backends), invalid

    def filters(self, filters: tuple[HTTPRouteFilter, ...], rule: _Rule, *, grpc: bool) -> None:
        for spec in filters:
            kind = spec.type
            if kind == "RequestHeaderModifier" and spec.request_header_modifier is not None:
                rule.request_headers = _header_modifier(spec.request_header_modifier)
            elif kind == "ResponseHeaderModifier" and spec.response_header_modifier is not None:
                rule.response_headers = _header_modifier(spec.response_header_modifier)
            elif kind == "RequestRedirect" and spec.request_redirect is not None and not grpc:
                redirect = spec.request_redirect
                path = redirect.path
                rule.redirect = ir.Redirect(
                    scheme=redirect.scheme,
                    hostname=redirect.hostname,
                    port=redirect.port,
                    status_code=redirect.status_code,
                    path_type=path.type if path else None,
                    path_value=(path.replace_full_path if path.type == "ReplaceFullPath" else path.replace_prefix_match)
                    if path
                    else None,
                )
            elif kind == "URLRewrite" and spec.url_rewrite is not None and not grpc:
                rewrite = spec.url_rewrite
                path = rewrite.path
                rule.url_rewrite = ir.URLRewrite(
                    hostname=rewrite.hostname,
                    path_type=path.type if path else None,
                    path_value=(path.replace_full_path if path.type == "ReplaceFullPath" else path.replace_prefix_match)
                    if path
                    else None,
                )
            elif kind == "RequestMirror" and spec.request_mirror is not None:
                mirror = spec.request_mirror
                resolved = resolve_backend(self.reader, self.key, mirror.backend_ref)
                if isinstance(resolved, Problem):
                    self.unresolved.append(resolved)
                    continue
                self.targets.add(resolved)
                numerator, denominator = 100, 100
                if mirror.fraction is not None:
                    numerator, denominator = mirror.fraction.numerator, mirror.fraction.denominator
                elif mirror.percent is not None:
                    numerator = mirror.percent
                rule.mirrors.append(ir.Mirror(destination=resolved.name, numerator=numerator, denominator=denominator))
            elif kind == "ExtensionRef" and spec.extension_ref is not None:
                self.extension(spec, rule)
            else:
                self.fail(f"Filter type {kind} is not supported on {self.key.kind} or misses its configuration")

    def extension(self, spec: HTTPRouteFilter, rule: _Rule) -> None:
        ref = spec.extension_ref
        assert ref is not None
        if (ref.group, ref.kind) != (EG_GROUP, "HTTPRouteFilter"):
            self.unresolved.append(
                Problem(reason="InvalidKind", message=f"Extension filter kind {ref.group}/{ref.kind} is not supported")
            )
            rule.direct_response = ir.DirectResponse(status=500)
            return
        key = ResourceKey(group=EG_GROUP, kind="HTTPRouteFilter", namespace=self.key.namespace, name=ref.name)
        found = self.reader.model(key, EGHTTPRouteFilter)
        if found is None:
            self.unresolved.append(
                Problem(reason="BackendNotFound", message=f"HTTPRouteFilter {key.namespace}/{ref.name} not found")
            )
            rule.direct_response = ir.DirectResponse(status=500)
            return
        self.extension_filter(found[1].spec, rule)

    def extension_filter(self, extension: HTTPRouteFilterSpec, rule: _Rule) -> None:
        """An HTTPRouteFilter's direct response (its body inline or from a ConfigMap's `response.body`), URL
        rewrite (path by regular expression; Host from a header or the backend) and credential injection."""
        if extension.unsupported:
            rule.invalid = f"invalid filter HTTPRouteFilter: {', '.join(extension.unsupported)} not supported by egd"
            return
        if extension.credential_injection is not None:
            found = self.injected_credential(extension.credential_injection)
            if isinstance(found, str):
                rule.invalid = f"invalid filter HTTPRouteFilter: {found}"
            else:
                rule.credential = found
        if extension.direct_response is not None:
            response = extension.direct_response
            body = self.response_body(response.body) if response.body is not None else ""
            if body is None:
                rule.direct_response = ir.DirectResponse(status=500)
                return
            rule.direct_response = ir.DirectResponse(
                status=response.status_code or 200, body=body, content_type=response.content_type
            )
        rewrite = extension.url_rewrite
        if rewrite is None:
            return
        regex = None
        if rewrite.path is not None and rewrite.path.replace_regex_match is not None:
            match = rewrite.path.replace_regex_match
            _check_regex(self, match.pattern)
            regex = ir.RegexRewrite(pattern=match.pattern, substitution=match.substitution)
        hostname = rewrite.hostname
        base = rule.url_rewrite or ir.URLRewrite()
        rule.url_rewrite = msgspec.structs.replace(
            base,
            path_regex=regex or base.path_regex,
            hostname_from_header=hostname.header if hostname is not None and hostname.type == "Header" else None,
            hostname_from_backend=hostname is not None and hostname.type == "Backend",
        )

    def injected_credential(self, spec: HTTPCredentialInjectionFilter) -> ir.CredentialInjection | str:
        """The credential to inject from the `credential` key of a Secret in the route's namespace, or why
        there is none."""
        ref = spec.credential.value_ref
        if (ref.group, ref.kind) != ("", "Secret"):
            return f"credential reference to {ref.group}/{ref.kind} is not supported, only Secret"
        namespace = self.key.namespace
        if ref.namespace is not None and ref.namespace != namespace:
            return f"credential reference to Secret {ref.namespace}/{ref.name} in another namespace is not allowed"
        found = self.reader.model(ResourceKey(group="", kind="Secret", namespace=namespace, name=ref.name), Secret)
        if found is None:
            return f"secret {namespace}/{ref.name} does not exist"
        credential = found[1].value(INJECTED_CREDENTIAL_KEY)
        if not credential:
            return f"credential key {INJECTED_CREDENTIAL_KEY} not found in secret {namespace}/{ref.name}"
        return ir.CredentialInjection(
            secret=f"{namespace}/{ref.name}",
            credential=credential,
            header=spec.header or "Authorization",
            overwrite=bool(spec.overwrite),
        )

    def response_body(self, body: CustomResponseBody) -> str | None:
        """The body of a direct response; None (and ResolvedRefs=False) when its ConfigMap is missing."""
        found = custom_response_body(self.reader, self.key.namespace, body)
        if isinstance(found, Problem):
            self.unresolved.append(found)
            return None
        return found

    def timeouts(self, request: str | None, backend_request: str | None) -> ir.Timeouts | None:
        if request is None and backend_request is None:
            return None
        values: list[int | None] = []
        for text in (request, backend_request):
            if text is None:
                values.append(None)
                continue
            ms = parse_duration(text)
            if ms is None:
                self.fail(f"Timeout {text!r} is not a valid duration")
            values.append(ms)
        return ir.Timeouts(request_ms=values[0], backend_request_ms=values[1])

    def session_persistence(self, spec: SessionPersistence | None) -> ir.SessionPersistence | None:
        """A rule's session persistence as Envoy Gateway translates it: the session is named after the route
        unless `sessionName` says otherwise; only a Permanent cookie gets a lifetime (`absoluteTimeout`)."""
        if spec is None:
            return None
        if spec.idle_timeout is not None:
            self.fail("sessionPersistence.idleTimeout is not supported")
        name = spec.session_name or f"httproute-{self.key.namespace}-{self.key.name}-"
        ttl_ms = None
        permanent = spec.cookie_config is not None and spec.cookie_config.lifetime_type == "Permanent"
        if spec.type == "Cookie" and permanent:
            if spec.absolute_timeout is None:
                self.fail("sessionPersistence.absoluteTimeout is required for a Permanent cookie")
            else:
                ttl_ms = parse_duration(spec.absolute_timeout)
        return ir.SessionPersistence(type=spec.type, name=name, ttl_ms=ttl_ms)


def custom_response_body(reader: Reader, namespace: str, body: CustomResponseBody) -> str | Problem:
    """A custom response's body (a direct response's, a response override's): inline, or the `response.body`
    key of a ConfigMap in `namespace`."""
    if body.type == "Inline" or body.value_ref is None:
        return body.inline or ""
    ref = body.value_ref
    if (ref.group, ref.kind) != ("", "ConfigMap"):
        return Problem(reason="InvalidKind", message=f"Response body from {ref.kind} is not supported: use a ConfigMap")
    key = ResourceKey(group="", kind="ConfigMap", namespace=namespace, name=ref.name)
    found = reader.model(key, ConfigMap)
    data = found[1].data if found is not None else {}
    if RESPONSE_BODY_KEY not in data:
        message = f"ConfigMap {namespace}/{ref.name} not found or has no {RESPONSE_BODY_KEY!r} key"
        return Problem(reason="BackendNotFound", message=message)
    return data[RESPONSE_BODY_KEY]


def _rank(
    path: ir.PathMatch | None, method: str | None, headers: int, query: int, age: tuple[float, str], i: int, j: int
) -> Rank:
    """Gateway API's precedence: the longest Exact, then RegularExpression, then PathPrefix path; a method; the
    most headers, then query params; then the oldest route (`Resource.age_rank`), and the rule's order."""
    path_rank = _PATH_RANK[path.type] if path else 0
    length = len(path.value) if path else 0
    return (-path_rank, -length, -(method is not None), -headers, -query, *age, i, j)


def _check_regex(translation: _Translation, pattern: str) -> None:
    problem = re2_problem(pattern)
    if problem is not None:
        translation.fail(f"Regular expression {problem}")


def _rule_route(
    translation: _Translation,
    rule: _Rule,
    backends: tuple[ir.WeightedBackend, ...],
    invalid: int,
    has_refs: bool,
    **fields: object,
) -> ir.HTTPRoute:
    direct = rule.direct_response
    if rule.redirect is None and direct is None and (not has_refs or (not backends and invalid == 0)):
        direct = ir.DirectResponse(status=500)
    filters: tuple[str, ...] = fields.pop("filters", ())  # type: ignore[assignment]
    if rule.credential is not None:
        filters = tuple(sorted({*filters, rule.credential.filter_key}))
    route = ir.HTTPRoute(
        hostname="",
        backends=() if rule.redirect or direct else backends,
        invalid_backend_weight=0 if rule.redirect or direct else invalid,
        direct_response=direct if rule.redirect is None else None,
        redirect=rule.redirect,
        url_rewrite=rule.url_rewrite,
        request_headers=rule.request_headers,
        response_headers=rule.response_headers,
        mirrors=tuple(rule.mirrors),
        credential_injection=rule.credential,
        filters=filters,
        **fields,  # type: ignore[arg-type]
    )
    return route


def compile_http_route(reader: Reader, key: ResourceKey, route: HTTPRoute, age: tuple[float, str]) -> CompiledRoute:
    translation = _Translation(reader, key)
    ranked: list[RankedRoute] = []
    for i, spec in enumerate(route.spec.rules):
        rule = _Rule()
        translation.filters(spec.filters, rule, grpc=False)
        if translation.reject(i, rule):
            continue
        backends, invalid = translation.backends(spec.backend_refs)
        timeouts = translation.timeouts(spec.timeouts.request, spec.timeouts.backend_request) if spec.timeouts else None
        session = translation.session_persistence(spec.session_persistence)
        matches = spec.matches or (HTTPRouteMatch(),)
        for j, match in enumerate(matches):
            path = _http_path(translation, match)
            headers = tuple(ir.HeaderMatch(name=h.name, value=h.value, type=h.type) for h in match.headers)
            query = tuple(ir.QueryMatch(name=q.name, value=q.value, type=q.type) for q in match.query_params)
            for match_type, value in [(h.type, h.value) for h in headers] + [(q.type, q.value) for q in query]:
                if match_type == "RegularExpression":
                    _check_regex(translation, value)
                elif match_type != "Exact":
                    translation.fail(f"Match type {match_type} is not supported")
            ir_route = _rule_route(
                translation,
                rule,
                backends,
                invalid,
                bool(spec.backend_refs),
                name=f"httproute/{key.namespace}/{key.name}/rule/{i}/match/{j}",
                path=path,
                method=match.method,
                headers=headers,
                query_params=query,
                timeouts=timeouts,
                session_persistence=session,
                filters=(SESSION_FILTER,) if session is not None else (),
            )
            rank = _rank(path, match.method, len(headers), len(query), age, i, j)
            ranked.append(RankedRoute(rank=rank, route=ir_route))
    return _compiled(translation, ranked, tuple(rule.name for rule in route.spec.rules))


def _http_path(translation: _Translation, match: HTTPRouteMatch) -> ir.PathMatch:
    path = match.path
    if path is None:
        return ir.PathMatch(type="PathPrefix", value="/")
    if path.type == "RegularExpression":
        _check_regex(translation, path.value)
    elif path.type in ("Exact", "PathPrefix"):
        if not path.value.startswith("/"):
            translation.fail(f"Path {path.value!r} must start with '/'")
    else:
        translation.fail(f"Path match type {path.type} is not supported")
    return ir.PathMatch(type=path.type, value=path.value)


def compile_grpc_route(reader: Reader, key: ResourceKey, route: GRPCRoute, age: tuple[float, str]) -> CompiledRoute:
    translation = _Translation(reader, key)
    ranked: list[RankedRoute] = []
    for i, spec in enumerate(route.spec.rules):
        rule = _Rule()
        translation.filters(spec.filters, rule, grpc=True)
        if translation.reject(i, rule):
            continue
        backends, invalid = translation.backends(spec.backend_refs)
        if spec.session_persistence is not None:
            translation.fail("sessionPersistence is not supported on GRPCRoute")
        matches = spec.matches or (GRPCRouteMatch(),)
        for j, match in enumerate(matches):
            path = _grpc_path(translation, match)
            headers = tuple(ir.HeaderMatch(name=h.name, value=h.value, type=h.type) for h in match.headers)
            for h in match.headers:
                if h.type == "RegularExpression":
                    _check_regex(translation, h.value)
            ir_route = _rule_route(
                translation,
                rule,
                backends,
                invalid,
                bool(spec.backend_refs),
                name=f"grpcroute/{key.namespace}/{key.name}/rule/{i}/match/{j}",
                grpc=True,
                path=path,
                headers=headers,
            )
            rank = _rank(path, None, len(headers), 0, age, i, j)
            ranked.append(RankedRoute(rank=rank, route=ir_route))
    return _compiled(translation, ranked, tuple(rule.name for rule in route.spec.rules))


def _grpc_path(translation: _Translation, match: GRPCRouteMatch) -> ir.PathMatch:
    """gRPC calls are `POST /<service>/<method>`: a method match becomes a path match."""
    method = match.method
    if method is None or (method.service is None and method.method is None):
        return ir.PathMatch(type="PathPrefix", value="/")
    if method.type == "RegularExpression":
        for part in (method.service, method.method):
            if part is not None:
                _check_regex(translation, part)
        service = method.service or "[^/]+"
        name = method.method or "[^/]+"
        return ir.PathMatch(type="RegularExpression", value=f"/{service}/{name}")
    if method.type != "Exact":
        translation.fail(f"Method match type {method.type} is not supported")
    if method.service and method.method:
        return ir.PathMatch(type="Exact", value=f"/{method.service}/{method.method}")
    if method.service:
        return ir.PathMatch(type="PathPrefix", value=f"/{method.service}/")
    return ir.PathMatch(type="RegularExpression", value=f"/[^/]+/{re.escape(method.method or '')}")


def _compiled(
    translation: _Translation, ranked: list[RankedRoute], rule_names: tuple[str | None, ...]
) -> CompiledRoute:
    return CompiledRoute(
        routes=tuple(ranked),
        rule_names=rule_names,
        unresolved=tuple(translation.unresolved),
        unsupported=translation.unsupported,
        rejected=translation.rejected,
        targets=tuple(sorted(translation.targets)),
    )
