"""`ListenerRoutes`: the virtual hosts and listener-wide needs it keeps as routes come and go equal those
computed from all its virtual hosts at once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.attached import ListenerRoutes
from projections.gatewayapi.http import RankedRoute
from projections.gatewayapi.routes import Attachment
from projections.ir.extensions import Extensions, Lua, merge_extension_filters
from projections.ir.security import CORS, BasicAuth, Security, merge_filters

GATEWAY = ResourceKey(group="gateway.networking.k8s.io", kind="Gateway", namespace="default", name="gw")
HOSTNAMES = ["*", "a.example.com", "b.example.com", "c.example.com", "*.example.com"]
SECURITIES = [
    None,
    Security(policy="default/cors", cors=CORS(allow_origins=("https://a.example",))),
    Security(policy="default/basic", basic_auth=BasicAuth(users="u:{SHA}x", forward_username_header="x-user")),
]
EXTENSIONS = [None, Extensions(policy="default/lua", luas=(Lua(name="default/lua/lua/0", code="-- 1"),))]


def _attachment(slot: int, hostname: str, variant: int) -> Attachment:
    route = ir.hashed(
        ir.HTTPRoute(
            name=f"httproute/default/r{slot}/rule/0/match/0",
            hostname=hostname,
            path=ir.PathMatch(type="PathPrefix", value=f"/{slot}"),
            rate_limit=ir.RateLimit(type=("Global", "Local")[variant % 2], policy="default/rl")
            if variant % 3
            else None,
            filters=(("fault",), (), ("buffer", "fault"))[variant % 3],
            security=SECURITIES[variant % len(SECURITIES)],
            extensions=EXTENSIONS[variant % len(EXTENSIONS)],
        )
    )
    rank = (0, 0, 0, 0, 0, "", route.name, 0, slot)
    return Attachment(gateway=GATEWAY, listener="http", http=(RankedRoute(rank=rank, route=route),))


changes = st.lists(
    st.tuples(st.integers(0, 7), st.sampled_from(HOSTNAMES), st.integers(-1, 5)),  # slot, hostname, variant (-1: gone)
    min_size=1,
    max_size=30,
)
# Many hosts, each change touching one or two: the listener places each in the order rather than sorting them all.
MANY_HOSTNAMES = [*HOSTNAMES, *(f"h{n}.example.com" for n in range(40))]
changes_among_many = st.lists(
    st.tuples(st.integers(0, 47), st.sampled_from(MANY_HOSTNAMES), st.integers(-1, 5)), min_size=20, max_size=80
)


@settings(max_examples=200, deadline=None)
@given(changes, st.booleans())
def test_kept_hosts_equal_hosts_computed_at_once(sequence: list[tuple[int, str, int]], read_each: bool) -> None:
    _check_kept_hosts(sequence, read_each)


@settings(max_examples=100, deadline=None)
@given(changes_among_many)
def test_kept_hosts_equal_hosts_computed_at_once_among_many(sequence: list[tuple[int, str, int]]) -> None:
    _check_kept_hosts(sequence, read_each=True)


def _check_kept_hosts(sequence: list[tuple[int, str, int]], read_each: bool) -> None:
    listener = ListenerRoutes("default/gw/http")
    attached: dict[int, Attachment] = {}
    for slot, hostname, variant in sequence:
        key = ResourceKey(group="gateway.networking.k8s.io", kind="HTTPRoute", namespace="default", name=f"r{slot}")
        if slot in attached:
            listener.remove(key, attached.pop(slot))
        if variant >= 0:
            attached[slot] = _attachment(slot, hostname, variant)
            listener.add(key, attached[slot])
        if read_each:
            listener.hosts()
    hosts = listener.hosts()
    virtual_hosts = hosts.virtual_hosts
    assert [v.hostname for v in virtual_hosts] == sorted({a.http[0].route.hostname for a in attached.values()})
    for virtual_host in virtual_hosts:
        expected = sorted(
            (a.http[0] for a in attached.values() if a.http[0].route.hostname == virtual_host.hostname),
            key=lambda r: r.rank,
        )
        assert virtual_host.routes == tuple(r.route for r in expected)
    assert hosts.filters == tuple(sorted({f for v in virtual_hosts for f in v.filters}))
    assert hosts.rate_limit_types == tuple(sorted({t for v in virtual_hosts for t in v.rate_limit_types}))
    assert hosts.security_filters == merge_filters([v.security_filters for v in virtual_hosts])
    assert hosts.extension_filters == merge_extension_filters([v.extension_filters for v in virtual_hosts])
