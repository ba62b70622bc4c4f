"""The command line against a real `egd serve` with its embedded nats-server (DESIGN.md section 4)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml

from egd.natsserver import pick_free_port
from tests.egd.daemon import Daemon, egd

SITE = Path(__file__).resolve().parents[1] / "testdata" / "apply" / "site.yaml"


def with_daemon(daemon: Daemon, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = egd(*args, "--data-dir", str(daemon.data_dir), stdin=stdin)
    return result.returncode, result.stdout, result.stderr


def test_delete_by_name_twice_and_a_dry_run_of_a_missing_name(daemon: Daemon) -> None:
    """A name given twice is deleted once; a dry run refuses a missing name as the deletion itself does."""
    code, _, err = with_daemon(
        daemon, "apply", "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    )
    assert code == 0, err
    code, out, err = with_daemon(daemon, "delete", "configmap", "a", "zz", "--dry-run")
    assert (code, out) == (1, ""), err
    assert "zz: not found; nothing was deleted" in err
    code, out, err = with_daemon(daemon, "delete", "configmap", "a", "a")
    assert (code, out) == (0, "configmap/a deleted\n"), err
    assert "Traceback" not in err


def test_apply_warns_of_fields_egd_does_not_read(daemon: Daemon, tmp_path: Path) -> None:
    """kubectl refuses a misspelt field; egd keeps it (producers may send newer API versions) and warns."""
    route = tmp_path / "route.yaml"
    route.write_text(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, uid: x}\n"
        "spec: {parentRefs: [{name: g}], rules: [{matchs: [{path: {value: /x}}], backendRefs: [{name: s, port: 8}]}]}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\nimmutable: true\n"
    )
    code, out, err = with_daemon(daemon, "apply", "-f", str(route))
    assert code == 0, err
    assert out.splitlines() == ["httproute.gateway.networking.k8s.io/r created", "configmap/c created"]
    assert err.splitlines() == [
        f"warning: HTTPRoute default/r at {route}, document 1 (line 1): spec.rules[0].matchs is not read by egd "
        "(a misspelling, or a field egd does not support)"
    ]


def test_apply_get_reapply_change_delete(daemon: Daemon) -> None:
    code, out, err = with_daemon(daemon, "apply", "-f", str(SITE), "--reason", "first rollout")
    assert code == 0, err
    assert out.splitlines() == [
        "gatewayclass.gateway.networking.k8s.io/eg created",
        "gateway.gateway.networking.k8s.io/edge created",
        "httproute.gateway.networking.k8s.io/web.v1 created",
    ]
    code, out, _ = with_daemon(daemon, "get", "httproutes", "web.v1", "-o", "json")
    assert code == 0
    route = json.loads(out)
    assert route["metadata"]["namespace"] == "default"
    assert route["metadata"]["generation"] == 1
    assert route["spec"]["hostnames"] == ["www.example.com"]

    code, out, _ = with_daemon(daemon, "apply", "-f", str(SITE))
    assert out.splitlines()[-1] == "httproute.gateway.networking.k8s.io/web.v1 unchanged"

    changed = SITE.read_text().replace("www.example.com", "shop.example.com")
    code, out, err = with_daemon(daemon, "apply", "-f", "-", stdin=changed)
    assert code == 0, err
    assert "httproute.gateway.networking.k8s.io/web.v1 configured" in out.splitlines()
    code, out, _ = with_daemon(daemon, "get", "HTTPRoute", "web.v1", "-o", "yaml")
    route = yaml.safe_load(out)
    assert (route["metadata"]["generation"], route["spec"]["hostnames"]) == (2, ["shop.example.com"])

    code, out, _ = with_daemon(daemon, "get", "gatewayclass")
    assert out.splitlines()[0].split() == ["NAME", "GENERATION", "REVISION", "AGE"]
    assert out.splitlines()[1].split()[:2] == ["eg", "1"]

    code, out, _ = with_daemon(daemon, "delete", "httproute", "web.v1", "--reason", "retired")
    assert (code, out.strip()) == (0, "httproute.gateway.networking.k8s.io/web.v1 deleted")
    code, _, err = with_daemon(daemon, "get", "httproute", "web.v1")
    assert code == 1 and "not found" in err

    code, out, _ = with_daemon(daemon, "history", "httproute/web.v1", "-o", "json")
    entries = [json.loads(line) for line in out.splitlines()]
    assert [e["change"] for e in entries] == ["created", "configured", "deleted"]
    assert entries[0]["reason"] == "first rollout" and entries[2]["reason"] == "retired"
    assert entries[0]["actor"] and entries[0]["source"].startswith("egd apply@")
    code, out, _ = with_daemon(daemon, "history")
    assert len(out.splitlines()) == 1 + 5  # header, 3 created, configured, deleted


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("kind: [unclosed", "malformed YAML"),
        ("apiVersion: v1\nkind: Gizmo\nmetadata: {name: a}\n", "$.kind: unknown kind 'Gizmo'"),
        ("apiVersion: v1\nkind: Service\nmetadata: {}\n", "$.metadata.name"),
        ("apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name}\n", "$.metadata.name"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + "a" * 254 + "}\n", "no more than 253"),
        (
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n"
            "spec: {rules: [{backendRefs: [{name: s, port: eighty}]}]}\n",
            "$.spec.rules[0].backendRefs[0].port",
        ),
        (  # a port Envoy's protobuf cannot hold: it once crashed the daemon, and every restart after it
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
            "spec: {gatewayClassName: eg, listeners: [{name: http, protocol: HTTP, port: -5}]}\n",
            "$.spec.listeners[0].port: Expected `int` >= 1",
        ),
        (
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n"
            "spec: {rules: [{filters: [{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 80}, "
            "percent: -3}}]}]}\n",
            "$.spec.rules[0].filters[0].requestMirror.percent",
        ),
        (
            "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {name: p}\n"
            "spec: {targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: g}], "
            "retry: {numRetries: 4294967296}}\n",
            "$.spec.retry.numRetries: Expected `int` <= 4294967295",
        ),
        (  # a lookahead: Python's `re` takes it, RE2 (Envoy's engine) does not
            "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {name: p}\n"
            "spec: {targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: g}], "
            "rateLimit: {type: Global, global: {rules: [{limit: {requests: 1, unit: Second}, "
            "clientSelectors: [{headers: [{name: x, type: RegularExpression, value: '(?=a)'}]}]}]}}}\n",
            "clientSelectors[0].headers[0]: '(?=a)' is not a valid RE2 regular expression: invalid perl operator",
        ),
    ],
)
def test_bad_input_is_refused_whole_with_document_and_field(
    daemon: Daemon, tmp_path: Path, document: str, expected: str
) -> None:
    good = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\ndata: {a: b}\n"
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(good + "---\n" + document)
    code, out, err = with_daemon(daemon, "apply", "-f", str(bad_file))
    assert code == 1
    assert expected in err and "bad.yaml" in err
    assert "Traceback" not in err
    assert out == ""
    code, out, _ = with_daemon(daemon, "history")
    assert out.splitlines()[1:] == [], "nothing may be published when any document is invalid"


def test_an_object_too_big_for_one_nats_message_is_refused_whole(daemon: Daemon, tmp_path: Path) -> None:
    """A Secret whose event exceeds the server's max_payload (1 MiB): a clear error naming it, nothing written."""
    good = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\ndata: {a: b}\n"
    huge = "apiVersion: v1\nkind: Secret\nmetadata: {name: huge}\ndata: {blob: " + "QUJD" * 300_000 + "}\n"
    documents = tmp_path / "big.yaml"
    documents.write_text(good + "---\n" + huge)
    code, out, err = with_daemon(daemon, "apply", "-f", str(documents))
    assert code == 1
    assert "Secret default/huge" in err and "max_payload" in err and "nothing was written" in err
    assert "Traceback" not in err
    code, out, _ = with_daemon(daemon, "history")
    assert out.splitlines()[1:] == [], "nothing may be published when any object is too big"


@pytest.mark.parametrize("server", ["xds", "admin", "ratelimit"])
def test_serve_on_a_port_in_use_says_which_and_exits_1(tmp_path: Path, server: str) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        addresses = {name: f"127.0.0.1:{pick_free_port()}" for name in ("xds", "admin", "ratelimit")}
        addresses[server] = f"127.0.0.1:{taken.getsockname()[1]}"
        flags = [f for name, address in addresses.items() for f in (f"--{name}-address", address)]
        result = egd("serve", "--data-dir", str(tmp_path / "egd"), *flags, timeout=30)
    finally:
        taken.close()
    assert result.returncode == 1, result.stderr
    what = {"xds": "xDS", "admin": "the admin API", "ratelimit": "rate limits"}[server]
    assert f"error: cannot listen for {what} on {addresses[server]}" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_data_dir_it_cannot_create_says_so_and_exits_1(tmp_path: Path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    result = egd("serve", "--data-dir", str(in_the_way / "egd"), timeout=30)
    assert result.returncode == 1, result.stderr
    assert f"error: cannot use {in_the_way / 'egd'} as the data dir" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_admin_api_refuses_bad_parameters_with_400(daemon: Daemon) -> None:
    for path in (
        "/api/v1/objects?min_seq=abc",
        "/api/v1/ir?min_seq=-1",
        "/api/v1/objects?min_seq=%C2%B2",  # `²`: a digit to str.isdigit, not to int()
        "/api/v1/objects?min_seq=%EF%BC%91",  # a fullwidth `1`
        "/api/v1/objects?min_seq=" + "9" * 5000,  # more digits than int() takes
        "/api/v1/xds?variant=weird",
    ):
        assert daemon.http_status(path) == 400, path
    for path in ("/api/v1/objects?min_seq=0", "/api/v1/xds?variant=delta", "/api/v1/xds?variant=sotw", "/api/v1/xds"):
        assert daemon.http_status(path) == 200, path


def test_nats_down_is_exit_code_3(tmp_path: Path) -> None:
    result = egd("get", "httproute", "--nats-url", f"nats://127.0.0.1:{pick_free_port()}")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr and "nats" in result.stderr.lower()
    result = egd("get", "httproute", "--data-dir", str(tmp_path / "nothing-here"))
    assert result.returncode == 3 and "egd serve" in result.stderr


def test_a_second_daemon_on_the_same_data_dir_is_refused(daemon: Daemon) -> None:
    second = egd("serve", "--data-dir", str(daemon.data_dir), "--admin-address", f"127.0.0.1:{pick_free_port()}")
    assert second.returncode == 1
    assert "already running" in second.stderr


def test_kill_9_and_restart_serves_exactly_the_fold_of_the_log(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "egd")
    daemon.start()
    try:
        assert with_daemon(daemon, "apply", "-f", str(SITE))[0] == 0
        assert with_daemon(daemon, "delete", "gateway", "edge")[0] == 0
        before = with_daemon(daemon, "get", "httproute", "-A", "-o", "json")[1]
        daemon.kill()
        daemon.start()
        after = with_daemon(daemon, "get", "httproute", "-A", "-o", "json")[1]
        assert json.loads(after) == json.loads(before)
        assert with_daemon(daemon, "get", "gateway", "edge")[0] == 1
        assert json.loads(with_daemon(daemon, "get", "gatewayclass", "eg", "-o", "json")[1])["metadata"]["name"] == "eg"
    finally:
        assert daemon.stop() == 0, daemon.log()
