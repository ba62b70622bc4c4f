"""Every command authenticates to a real nats-server as it asks (user/password, token, NKey, mutual TLS),
and a refusal is a clear exit code 3, never a hang."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import nkeys

from tests.egd.daemon import Daemon, egd
from tests.egd.natsconfig import nats_with_config
from tests.egd.natsjwt import Operator, write_creds
from tests.egd.pki import CertificateAuthority

SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: shop}
spec:
  ports: [{name: http, port: 80}]
"""


async def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`egd ARGS` in a subprocess; (exit code, stdout + stderr)."""
    previous = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        result = await asyncio.to_thread(egd, *args, stdin=SERVICE, timeout=30)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return result.returncode, result.stdout + result.stderr


def apply_args(url: str, tmp_path: Path, *auth: str) -> list[str]:
    return ["apply", "-f", "-", "--nats-url", url, "--data-dir", str(tmp_path / "no-daemon"), *auth]


async def test_user_and_password_from_flags_or_environment(tmp_path: Path) -> None:
    config = 'authorization { users = [ {user: ops, password: "s3cret"} ] }\n'
    async with nats_with_config(tmp_path / "nats", config) as nats:
        code, out = await run(*apply_args(nats.url, tmp_path, "--nats-user", "ops", "--nats-password", "s3cret"))
        assert (code, out.strip()) == (0, "service/shop created")

        code, out = await run(
            "get", "service", "shop", "-o", "json", "--nats-url", nats.url, "--data-dir", str(tmp_path / "none"),
            env={"EGD_NATS_USER": "ops", "EGD_NATS_PASSWORD": "s3cret"},
        )  # fmt: skip
        assert code == 0, out
        assert json.loads(out)["metadata"]["name"] == "shop"

        code, out = await run(*apply_args(nats.url, tmp_path, "--nats-user", "ops", "--nats-password", "wrong"))
        assert code == 3
        assert "refused egd's credentials" in out and "Authorization Violation" in out

        code, out = await run(*apply_args(nats.url, tmp_path))
        assert code == 3
        assert "refused egd's credentials" in out


async def test_token(tmp_path: Path) -> None:
    async with nats_with_config(tmp_path / "nats", "authorization { token: t0ken }\n") as nats:
        code, out = await run(*apply_args(nats.url, tmp_path, "--nats-token", "t0ken"))
        assert (code, out.strip()) == (0, "service/shop created")

        code, out = await run(*apply_args(nats.url, tmp_path, "--nats-token", "other"))
        assert code == 3
        assert "refused egd's credentials" in out


def write_user_seed(path: Path) -> str:
    """A fresh user NKey: writes its seed to `path`, returns its public key."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    path.write_bytes(seed)
    return str(nkeys.from_seed(bytearray(seed)).public_key.decode())


async def test_nkey_seed_file(tmp_path: Path) -> None:
    known = write_user_seed(tmp_path / "user.nk")
    write_user_seed(tmp_path / "stranger.nk")
    config = f"authorization {{ users = [ {{nkey: {known}}} ] }}\n"
    async with nats_with_config(tmp_path / "nats", config) as nats:
        code, out = await run(*apply_args(nats.url, tmp_path, "--nats-nkey", str(tmp_path / "user.nk")))
        assert (code, out.strip()) == (0, "service/shop created")

        code, out = await run(*apply_args(nats.url, tmp_path, "--nats-nkey", str(tmp_path / "stranger.nk")))
        assert code == 3
        assert "refused egd's credentials" in out


async def test_mutual_tls(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "pki", "nats")
    server = ca.issue("nats-server", server=True)
    client = ca.issue("egd", server=False)
    other_ca = CertificateAuthority(tmp_path / "pki", "other")
    impostor = other_ca.issue("egd", server=False)
    config = (
        f'tls {{ cert_file: "{server.cert}", key_file: "{server.key}", ca_file: "{ca.cert}", verify: true, '
        "timeout: 2 }\n"
    )
    async with nats_with_config(tmp_path / "nats", config) as nats:
        tls = ["--nats-tls-ca", str(ca.cert), "--nats-tls-cert", str(client.cert), "--nats-tls-key", str(client.key)]
        code, out = await run(*apply_args(nats.url, tmp_path, *tls))
        assert (code, out.strip()) == (0, "service/shop created")

        code, out = await run(
            "history", "service/shop", "-o", "json", "--nats-url", nats.url, "--data-dir", str(tmp_path / "none"), *tls
        )
        assert code == 0, out
        assert [json.loads(line)["change"] for line in out.splitlines()] == ["created"]

        # The server does not know this client certificate's CA.
        wrong = ["--nats-tls-ca", str(ca.cert), "--nats-tls-cert", str(impostor.cert)]
        code, out = await run(*apply_args(nats.url, tmp_path, *wrong, "--nats-tls-key", str(impostor.key)))
        assert code == 3, out
        # The client does not trust the server's CA.
        code, out = await run(*apply_args(nats.url, tmp_path, "--nats-tls-ca", str(other_ca.cert)))
        assert code == 3
        assert "TLS" in out and "certificate verify failed" in out


async def test_conflicting_ways_to_authenticate_are_a_usage_error(tmp_path: Path) -> None:
    code, out = await run(*apply_args("nats://127.0.0.1:1", tmp_path, "--nats-user", "a", "--nats-token", "b"))
    assert code == 2
    assert "not user and token" in out


async def test_creds_file_of_an_operator_mode_server(tmp_path: Path) -> None:
    """Decentralised auth: the server trusts an operator; a user of its JetStream account connects with a
    `.creds` file (`egd serve` creates its stream there, `apply`/`get` use it); a user of another operator's
    account is refused."""
    operator = Operator("egd-test")
    creds = write_creds(tmp_path / "creds" / "egd.creds", operator.app.user_creds("egd"))
    stranger = write_creds(tmp_path / "creds" / "stranger.creds", Operator("other").app.user_creds("egd"))
    async with nats_with_config(tmp_path / "nats", operator.server_config()) as nats:
        daemon = Daemon(tmp_path / "egd", "--nats-url", nats.url, "--nats-creds", str(creds))
        await asyncio.to_thread(daemon.start)
        try:
            code, out = await run(*apply_args(nats.url, tmp_path, "--nats-creds", str(creds)))
            assert (code, out.strip()) == (0, "service/shop created")
            code, out = await run(
                "get", "service", "shop", "-o", "json", "--nats-url", nats.url, "--data-dir", str(tmp_path / "none"),
                "--nats-creds", str(creds),
            )  # fmt: skip
            assert code == 0, out
            assert json.loads(out)["metadata"]["name"] == "shop"
        finally:
            assert await asyncio.to_thread(daemon.stop) == 0, daemon.log()

        code, out = await run(*apply_args(nats.url, tmp_path, "--nats-creds", str(stranger)))
        assert code == 3, out
        assert "refused egd's credentials" in out
        code, out = await run(*apply_args(nats.url, tmp_path))
        assert code == 3, out
