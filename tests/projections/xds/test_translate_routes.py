"""Route semantics that Gateway API fixes and Envoy spells differently."""

from __future__ import annotations

from projections import ir
from projections.xds.translate.names import INVALID_BACKEND_CLUSTER
from projections.xds.translate.routes import build_route

ROUTE = "httproute/default/r/rule/0/match/0"


def route(**fields: object) -> ir.HTTPRoute:
    return ir.HTTPRoute(name=ROUTE, hostname="*", **fields)  # type: ignore[arg-type]


def to(*destinations: tuple[str, int]) -> tuple[ir.WeightedBackend, ...]:
    return tuple(ir.WeightedBackend(destination=d, weight=w) for d, w in destinations)


def test_prefixes_match_whole_path_elements_and_a_trailing_slash_is_dropped() -> None:
    assert build_route(route(path=ir.PathMatch(type="PathPrefix", value="/api/"))).match.path_separated_prefix == "/api"
    assert build_route(route(path=ir.PathMatch(type="PathPrefix", value="/"))).match.prefix == "/"
    assert build_route(route()).match.prefix == "/"


def test_no_valid_weight_answers_500_and_an_invalid_share_names_a_missing_cluster() -> None:
    assert build_route(route(backends=to(("a", 0)))).direct_response.status == 500
    assert build_route(route(invalid_backend_weight=1)).direct_response.status == 500
    mixed = build_route(route(backends=to(("a", 3)), invalid_backend_weight=1)).route
    assert [(c.name, c.weight.value) for c in mixed.weighted_clusters.clusters] == [
        ("a", 3),
        (INVALID_BACKEND_CLUSTER, 1),
    ]
    assert mixed.cluster_not_found_response_code == mixed.INTERNAL_SERVER_ERROR


def test_the_same_destination_twice_is_one_weighted_cluster() -> None:
    action = build_route(route(backends=to(("a", 1), ("b", 2), ("a", 3)))).route
    assert [(c.name, c.weight.value) for c in action.weighted_clusters.clusters] == [("a", 4), ("b", 2)]
    assert build_route(route(backends=to(("a", 1), ("b", 0)))).route.cluster == "a"


def test_grpc_routes_use_the_http2_cluster() -> None:
    action = build_route(route(grpc=True, backends=to(("a", 1)), mirrors=(ir.Mirror(destination="m"),))).route
    assert action.cluster == "a/h2"
    assert [m.cluster for m in action.request_mirror_policies] == ["m/h2"]


def test_replace_prefix_with_slash_does_not_leave_a_double_slash() -> None:
    rewrite = ir.URLRewrite(path_type="ReplacePrefixMatch", path_value="/")
    action = build_route(
        route(path=ir.PathMatch(type="PathPrefix", value="/foo"), backends=to(("a", 1)), url_rewrite=rewrite)
    ).route
    assert (action.regex_rewrite.pattern.regex, action.regex_rewrite.substitution) == ("^/foo/*", "/")
    assert not action.prefix_rewrite


def test_backend_request_timeout_alone_bounds_the_request_too() -> None:
    action = build_route(route(backends=to(("a", 1)), timeouts=ir.Timeouts(backend_request_ms=1500))).route
    assert (action.timeout.seconds, action.timeout.nanos) == (1, 500_000_000)
    assert action.retry_policy.per_try_timeout.seconds == 1


def test_header_modifiers_set_overwrites_and_add_appends() -> None:
    modifier = ir.HeaderModifier(set=(("x-s", "1"),), add=(("x-a", "2"),), remove=("x-r",))
    built = build_route(route(backends=to(("a", 1)), request_headers=modifier, response_headers=modifier))
    for added, removed in (
        (built.request_headers_to_add, built.request_headers_to_remove),
        (built.response_headers_to_add, built.response_headers_to_remove),
    ):
        assert [(h.header.key, h.append_action) for h in added] == [
            ("x-s", h.OVERWRITE_IF_EXISTS_OR_ADD) for h in added[:1]
        ] + [("x-a", h.APPEND_IF_EXISTS_OR_ADD) for h in added[1:]]
        assert list(removed) == ["x-r"]
