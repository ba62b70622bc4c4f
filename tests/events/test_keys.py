from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.errors import InvalidKeyError
from events.keys import ResourceKey, decode_token, encode_token, parse_subject, subject_for

NATS_FORBIDDEN = set(". *>\t\r\n")


@given(st.text(min_size=1))
def test_token_encoding_round_trips(text: str) -> None:
    assert decode_token(encode_token(text)) == text


@given(st.text(min_size=1))
def test_encoded_tokens_are_plain_nats_tokens(text: str) -> None:
    token = encode_token(text)
    assert token.isascii()
    assert not NATS_FORBIDDEN & set(token)


@given(st.text(min_size=1), st.text(), st.text(min_size=1))
def test_subject_round_trips(kind: str, namespace: str, name: str) -> None:
    key = ResourceKey(group="g", kind=kind, namespace=namespace, name=name)
    assert parse_subject(subject_for(key)) == (kind, namespace, name)


def test_subjects_read_naturally() -> None:
    key = ResourceKey(group="gateway.networking.k8s.io", kind="HTTPRoute", namespace="default", name="web.v1")
    assert subject_for(key) == "egd.v1.res.HTTPRoute.default.web_2Ev1"
    cluster = ResourceKey(group="gateway.networking.k8s.io", kind="GatewayClass", namespace="", name="eg")
    assert subject_for(cluster) == "egd.v1.res.GatewayClass._.eg"
    underscore = ResourceKey(group="", kind="Secret", namespace="_", name="a_b")
    assert subject_for(underscore) == "egd.v1.res.Secret._5F.a_5Fb"


@pytest.mark.parametrize("token", ["", "a.b", "_", "_4", "_zz", "a b", "_FF"])
def test_decode_rejects_what_encode_cannot_produce(token: str) -> None:
    with pytest.raises(InvalidKeyError):
        decode_token(token)
