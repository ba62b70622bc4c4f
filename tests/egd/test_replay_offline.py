"""`egd replay` needs no daemon: the frozen corpus of old events (schema 0 and 1), published as raw JSON by
another system onto a bare JetStream, replays to the recorded state through the command line."""

from __future__ import annotations

import asyncio
import json

import nats
import yaml

from egd.natsserver import NatsServerProcess
from events.jetstream import JetStreamEventStore
from tests.egd.daemon import egd
from tests.events.test_codec_upcast import CORPUS, corpus_records


async def test_old_events_published_raw_replay_offline(nats_server: NatsServerProcess) -> None:
    store = await JetStreamEventStore.connect(nats_server.url)  # creates the stream as egd configures it
    await store.close()
    connection = await nats.connect(nats_server.url)
    try:
        js = connection.jetstream()
        for record in corpus_records():
            ack = await js.publish(record.subject, record.data)
            assert ack.seq == record.seq
    finally:
        await connection.close()

    golden = yaml.safe_load((CORPUS / "corpus.state.yaml").read_text())
    last = str(len(corpus_records()))
    result = await asyncio.to_thread(egd, "replay", "--at", last, "-o", "state", "--nats-url", nats_server.url)
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)["items"]
    strip = ("creationTimestamp",)  # JetStream stamped the records now, not at their recorded times
    assert [_without(i, strip) for i in items] == [_without(i, strip) for i in golden["objects"]]

    history = await asyncio.to_thread(egd, "history", "-o", "json", "--nats-url", nats_server.url)
    entries = [json.loads(line) for line in history.stdout.splitlines()]
    assert [f"{e['seq']} {e['actor']} {e['change']} {e['resource']} {','.join(e['gateways'])}" for e in entries] == (
        golden["history"]
    )


def _without(document: dict[str, object], fields: tuple[str, ...]) -> object:
    out = json.loads(json.dumps(document))
    for field in fields:
        out["metadata"].pop(field, None)
    for condition in _conditions(out.get("status")):
        condition.pop("lastTransitionTime", None)
    return out


def _conditions(value: object) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    if isinstance(value, dict):
        if "lastTransitionTime" in value:
            found.append(value)
        for child in value.values():
            found += _conditions(child)
    elif isinstance(value, list):
        for child in value:
            found += _conditions(child)
    return found
