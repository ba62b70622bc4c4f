"""The NATS permissions of docs/security.md, on a real nats-server: a publisher may `egd apply`, a reader may
`egd get` and `egd history` but is refused by NATS when it publishes, and the daemon runs (folds, writes
and loads snapshots) with its own, publishing no event."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from tests.egd.daemon import ROOT, Daemon, egd
from tests.egd.natsconfig import nats_with_config

SERVICE = """
apiVersion: v1
kind: Service
metadata: {{name: shop, labels: {{tier: {tier}}}}}
spec:
  ports: [{{name: http, port: 80}}]
"""


def documented_permissions() -> str:
    text = (ROOT / "docs" / "security.md").read_text()
    blocks = re.findall(r"```conf\n(.*?)```", text, re.DOTALL)
    (block,) = [b for b in blocks if "EGD_PUBLISHER = {" in b]
    return str(block)


USERS = """
authorization {
  users = [
    { user: publisher, password: pub, permissions: $EGD_PUBLISHER }
    { user: reader, password: read, permissions: $EGD_READER }
    { user: daemon, password: dmn, permissions: $EGD_DAEMON }
  ]
}
"""


async def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = await asyncio.to_thread(egd, *args, stdin=stdin, timeout=30)
    return result.returncode, result.stdout, result.stderr


async def test_publisher_reader_and_daemon_permissions(tmp_path: Path) -> None:
    async with nats_with_config(tmp_path / "nats", documented_permissions() + USERS) as nats:
        as_daemon = ("--nats-url", nats.url, "--nats-user", "daemon", "--nats-password", "dmn")
        daemon = Daemon(tmp_path / "egd", *as_daemon, "--snapshot-every-events", "1")
        await asyncio.to_thread(daemon.start)
        target = ("--nats-url", nats.url, "--data-dir", str(daemon.data_dir))
        publisher = (*target, "--nats-user", "publisher", "--nats-password", "pub")
        reader = (*target, "--nats-user", "reader", "--nats-password", "read")
        try:
            code, out, err = await run("apply", "-f", "-", *publisher, stdin=SERVICE.format(tier="a"))
            assert (code, out.strip()) == (0, "service/shop created"), err
            code, out, err = await run("apply", "-f", "-", *publisher, stdin=SERVICE.format(tier="b"))
            assert (code, out.strip()) == (0, "service/shop configured"), err

            code, out, err = await run("get", "service", "shop", "-o", "json", *reader)
            assert code == 0, err
            assert json.loads(out)["metadata"]["labels"] == {"tier": "b"}
            code, out, err = await run("history", "service/shop", "-o", "json", *reader)
            assert code == 0, err
            assert [json.loads(line)["change"] for line in out.splitlines()] == ["created", "configured"]

            code, out, err = await run("apply", "-f", "-", *reader, stdin=SERVICE.format(tier="c"))
            assert code == 3
            assert "no permission to publish to 'egd.v1.res.Service.default.shop'" in err
            code, out, err = await run("delete", "service", "shop", *reader)
            assert code == 3
            assert "no permission to publish" in err

            code, out, err = await run("delete", "service", "shop", *publisher)
            assert (code, out.strip()) == (0, "service/shop deleted"), err
        finally:
            stopped = await asyncio.to_thread(daemon.stop)
        assert stopped == 0, daemon.log()
        assert "no permission" not in daemon.log()

        # Restarted, the daemon loads its newest snapshot with the same permissions.
        restarted = Daemon(tmp_path / "egd", *as_daemon)
        await asyncio.to_thread(restarted.start)
        try:
            snapshot_loaded = any("snapshot" in line and "loaded" in line for line in restarted.log().splitlines())
            assert json.loads(restarted.http_get("/api/v1/sequence"))["folded_seq"] == 3
        finally:
            assert await asyncio.to_thread(restarted.stop) == 0, restarted.log()
        assert snapshot_loaded, restarted.log()
        assert "no permission" not in restarted.log()
