"""Replay, diff, dry runs, revert and history against a real `egd serve` (embedded NATS).

The main check is "replay is exact": a scripted session records what the daemon serves (admin
/api/v1/xds and /api/v1/ir) after each step; `egd replay --at <seq>` (and `--at <time>`) must print the
same for every step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.egd.daemon import Daemon, egd


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    running = Daemon(tmp_path_factory.mktemp("replay") / "egd")
    running.start()
    yield running
    assert running.stop() == 0, running.log()


def run(daemon: Daemon, *args: str, stdin: str | None = None) -> str:
    result = egd(*args, "--data-dir", str(daemon.data_dir), stdin=stdin)
    assert result.returncode == 0, f"egd {' '.join(args)}: {result.stderr}"
    return result.stdout


def gateway(name: str, port: int) -> str:
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: {name}}}
spec:
  gatewayClassName: eg
  listeners: [{{name: http, protocol: HTTP, port: {port}}}]
"""


def service(name: str, port: int) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec: {{ports: [{{name: http, port: 80, targetPort: {port}}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-1
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"], conditions: {{ready: true}}}}]
ports: [{{name: http, port: {port}}}]
"""


def route(name: str, backend: str, prefix: str, parents: str = "[{name: edge}]") -> str:
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  parentRefs: {parents}
  rules:
    - matches: [{{path: {{type: PathPrefix, value: {prefix}}}}}]
      backendRefs: [{{name: {backend}, port: 80}}]
"""


CLASS = """
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
"""

SESSION: list[tuple[str, ...]] = [
    ("apply", "---".join([CLASS, gateway("edge", 8080), service("alpha", 9001), service("beta", 9002)])),
    ("apply", route("web", "alpha", "/")),
    ("apply", route("web", "beta", "/shop")),
    ("apply", route("api", "alpha", "/api", "[{name: edge}, {name: inner}]")),
    ("apply", gateway("inner", 9090)),
    ("delete", "httproute", "web"),
    ("apply", gateway("edge", 8081)),
    ("delete", "gateway", "inner"),
]


class Served:
    def __init__(self, seq: int, at: str, xds: Any, ir: Any) -> None:
        self.seq, self.at, self.xds, self.ir = seq, at, xds, ir


def history(daemon: Daemon, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run(daemon, "history", "-o", "json", *args).splitlines()]


def served_after(daemon: Daemon, seq: int) -> tuple[Any, Any]:
    """What the daemon serves once it has folded `seq` and published the xDS of it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        folded = json.loads(daemon.http_get("/api/v1/sequence"))["folded_seq"]
        if folded >= seq and daemon.http_status("/readyz") == 200:
            xds = json.loads(daemon.http_get("/api/v1/xds"))
            ir = json.loads(daemon.http_get("/api/v1/ir"))
            return xds, sorted(ir, key=lambda gateway: gateway["name"])
        time.sleep(0.02)
    raise AssertionError(f"the daemon did not fold {seq}")


@pytest.fixture(scope="module")
def session(daemon: Daemon) -> list[Served]:
    steps = []
    for command, *rest in SESSION:
        if command == "apply":
            run(daemon, "apply", "-f", "-", "--actor", "alice", stdin=rest[0])
        else:
            run(daemon, "delete", *rest, "--actor", "bob")
        last = history(daemon)[-1]
        steps.append(Served(last["seq"], last["at"], *served_after(daemon, last["seq"])))
    return steps


def test_replay_at_every_step_prints_what_the_daemon_served(daemon: Daemon, session: list[Served]) -> None:
    assert all(step.xds for step in session), "the session is not vacuous"
    for index, step in enumerate(session):
        replayed = json.loads(run(daemon, "replay", "--at", str(step.seq), "-o", "xds"))
        assert replayed == step.xds, f"xDS at sequence {step.seq}"
        if index % 2:
            assert json.loads(run(daemon, "replay", "--at", str(step.seq), "-o", "ir")) == step.ir
    middle = session[3]
    assert json.loads(run(daemon, "replay", "--at", middle.at, "-o", "xds")) == middle.xds
    only_inner = json.loads(run(daemon, "replay", "--at", str(middle.seq), "-o", "xds", "--gateway", "default/inner"))
    assert only_inner == [served for served in middle.xds if served["gateway"] == "default/inner"]


def test_replay_of_state_shows_objects_as_they_were(daemon: Daemon, session: list[Served]) -> None:
    state = json.loads(run(daemon, "replay", "--at", str(session[2].seq), "-o", "state"))
    routes = [item for item in state["items"] if item["kind"] == "HTTPRoute"]
    assert [(r["metadata"]["name"], r["metadata"]["generation"]) for r in routes] == [("web", 2)]
    assert routes[0]["spec"]["rules"][0]["backendRefs"][0]["name"] == "beta"
    assert routes[0]["status"]["parents"][0]["conditions"][0]["type"] == "Accepted"
    assert state["folded_seq"] == session[2].seq


def test_replay_past_the_end_is_an_error(daemon: Daemon, session: list[Served]) -> None:
    result = egd("replay", "--at", str(session[-1].seq + 100), "--data-dir", str(daemon.data_dir))
    assert result.returncode == 1
    assert "past the end of the log" in result.stderr


def test_diff_shows_fields_and_xds_per_gateway(daemon: Daemon, session: list[Served]) -> None:
    before, after = session[1].seq, session[2].seq
    out = json.loads(run(daemon, "diff", "--from", str(before), "--to", str(after), "--format", "json"))
    (web,) = out["objects"]
    assert web["resource"] == "HTTPRoute/default/web" and web["change"] == "changed"
    paths = {field["path"]: (field["before"], field["after"]) for field in web["fields"]}
    assert paths["spec.rules[0].matches[0].path.value"] == ("/", "/shop")
    assert paths["spec.rules[0].backendRefs[0].name"] == ("alpha", "beta")
    (edge,) = out["xds"]
    assert edge["gateway"] == "default/edge" and edge["change"] == "changed"
    changed_types = {t["type_url"].rsplit(".", 1)[-1]: t for t in edge["types"]}
    assert changed_types["RouteConfiguration"]["changed"]
    text = run(daemon, "diff", "--from", str(before), "--to", str(after))
    assert '~ spec.rules[0].matches[0].path.value: "/" -> "/shop"' in text

    removed = json.loads(
        run(daemon, "diff", "--from", str(session[6].seq), "--to", str(session[7].seq), "-o", "xds", "--format", "json")
    )
    assert [(g["gateway"], g["change"]) for g in removed["xds"]] == [("default/inner", "removed")]


def test_history_filters_and_names_the_gateways_each_change_affected(daemon: Daemon, session: list[Served]) -> None:
    entries = history(daemon)
    by_seq = {entry["seq"]: entry for entry in entries}
    assert by_seq[session[3].seq]["gateways"] == ["default/edge"]  # inner did not exist yet
    assert by_seq[session[4].seq]["gateways"] == ["default/inner"]
    assert by_seq[session[7].seq]["gateways"] == ["default/inner"]
    assert [e["seq"] for e in history(daemon, "--actor", "bob")] == [session[5].seq, session[7].seq]
    inner = history(daemon, "--gateway", "default/inner")
    assert [e["resource"] for e in inner] == ["Gateway/default/inner", "Gateway/default/inner"]
    routes = history(daemon, "httproute", "--source", "egd apply")
    assert {e["resource"] for e in routes} == {"HTTPRoute/default/web", "HTTPRoute/default/api"}
    assert history(daemon, "--since", session[-1].at) == [entries[-1]]
    table = run(daemon, "history", "gateway/inner")
    assert table.splitlines()[0].split()[:7] == ["SEQ", "TIME", "ACTOR", "SOURCE", "CHANGE", "RESOURCE", "GATEWAYS"]


def test_dry_runs_print_changes_and_publish_nothing(daemon: Daemon, session: list[Served]) -> None:
    before = history(daemon)[-1]["seq"]
    out = run(daemon, "apply", "--dry-run", "-f", "-", stdin=route("api", "beta", "/api/v2"))
    assert out.splitlines()[0] == "httproute.gateway.networking.k8s.io/api configured (dry run)"
    assert "xds:" in out and "default/edge changed" in out and "RouteConfiguration changed" in out
    out = run(daemon, "delete", "--dry-run", "gateway", "edge")
    assert "gateway.gateway.networking.k8s.io/edge deleted (dry run)" in out
    assert "default/edge removed" in out and "Listener removed" in out
    assert "HTTPRoute/default/api" in out.split("statuses:")[1]
    assert history(daemon)[-1]["seq"] == before


def test_revert_publishes_the_changes_back_to_a_point(daemon: Daemon, session: list[Served]) -> None:
    target = session[3]
    dry = run(daemon, "revert", "--to", str(target.seq), "--dry-run")
    assert "httproute.gateway.networking.k8s.io/web created (dry run)" in dry
    assert "gateway.gateway.networking.k8s.io/edge configured (dry run)" in dry
    before = history(daemon)[-1]["seq"]
    assert before == session[-1].seq, "the dry run published nothing"

    out = run(daemon, "revert", "--to", str(target.seq), "--actor", "carol", "--reason", "bad port")
    assert sorted(out.splitlines()) == [
        "gateway.gateway.networking.k8s.io/edge configured",
        "httproute.gateway.networking.k8s.io/web created",
    ]
    reverts = history(daemon, "--source", "egd revert")
    assert {(e["actor"], e["reason"]) for e in reverts} == {("carol", f"revert to sequence {target.seq}: bad port")}
    last = reverts[-1]["seq"]
    xds, ir = served_after(daemon, last)
    assert xds == target.xds, "after the revert the daemon serves what it served at the point"
    assert ir == target.ir
    assert json.loads(run(daemon, "replay", "--at", str(last), "-o", "xds")) == target.xds
    assert run(daemon, "revert", "--to", str(target.seq)).startswith("nothing to revert")
