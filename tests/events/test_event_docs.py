"""The worked example in docs/events.md is a valid event, and publishing it as shown works."""

from __future__ import annotations

import json
import re
import shlex
from contextlib import aclosing
from pathlib import Path

import nats

from egd.natsserver import NatsServerProcess
from events.codec import decode_event, message_id
from events.jetstream import JetStreamEventStore
from events.keys import subject_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def documented_request() -> tuple[str, dict[str, str], bytes]:
    block = re.search(r"```sh\n(nats req .*?)\n```", DOC.read_text(), re.DOTALL)
    assert block is not None, "docs/events.md lost its `nats req` example"
    words = shlex.split(block.group(1).replace("\\\n", " "))
    assert words[:2] == ["nats", "req"]
    flags = zip(words[3:-1:2], words[4:-1:2], strict=True)
    headers = dict(value.split(":", 1) for flag, value in flags if flag == "-H")
    return words[2], headers, words[-1].encode()


def test_the_documented_event_is_valid_and_its_subject_and_id_match() -> None:
    subject, headers, payload = documented_request()

    event = decode_event(payload)

    assert subject == subject_for(event.key)
    assert headers["Nats-Msg-Id"] == message_id(payload)
    assert headers["Nats-Expected-Last-Subject-Sequence"] == "0"


async def test_publishing_the_documented_event_stores_it_once(
    nats_server: NatsServerProcess, jetstream_store: JetStreamEventStore
) -> None:
    subject, headers, payload = documented_request()
    nc = await nats.connect(nats_server.url)
    try:
        first = json.loads((await nc.request(subject, payload, timeout=5, headers=headers)).data)
        retried = json.loads((await nc.request(subject, payload, timeout=5, headers=headers)).data)
    finally:
        await nc.close()

    async with aclosing(jetstream_store.read()) as records:
        stored = [record async for record in records]
    assert first == {"stream": "EGD_EVENTS", "seq": 1}
    assert retried["error"]["err_code"] == 10071  # the expectation is checked before the duplicate window
    assert [(r.subject, r.data) for r in stored] == [(subject, payload)]
