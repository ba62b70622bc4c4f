"""EnvoyPatchPolicy on generated xDS: RFC 6902 operations, a failing policy changes nothing, and the patched
resources follow later changes of the IR."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections import ir
from projections.xds.resources import LISTENER, ROUTE_CONFIGURATION
from projections.xds.translate import XdsTranslator, build_resource_set
from projections.xds.translate.jsonpatch import PatchError, apply_operation
from tests.projections.xds.test_translate_golden import CASES, gateways_of


def test_rfc6902_operations() -> None:
    document: Any = {"a": [1, 2], "b": {"c": "x"}}
    document = apply_operation(document, "add", "/a/-", 3)
    document = apply_operation(document, "add", "/a/0", 0)
    document = apply_operation(document, "replace", "/b/c", "y")
    document = apply_operation(document, "copy", "/d", from_path="/b")
    document = apply_operation(document, "move", "/e", from_path="/a")
    document = apply_operation(document, "remove", "/b")
    document = apply_operation(document, "test", "/d/c", "y")
    assert document == {"d": {"c": "y"}, "e": [0, 1, 2, 3]}
    assert apply_operation({"a~b": {"c/d": 1}}, "replace", "/a~0b/c~1d", 2) == {"a~b": {"c/d": 2}}
    for op, path, value in [("remove", "/nope", None), ("test", "/d/c", "z"), ("add", "/e/9", 1)]:
        with pytest.raises(PatchError):
            apply_operation(document, op, path, value)


@given(st.recursive(st.integers() | st.text(max_size=3), lambda c: st.lists(c, max_size=3), max_leaves=8))
def test_add_then_remove_restores(value: Any) -> None:
    document = {"x": [1]}
    assert apply_operation(apply_operation({"x": [1]}, "add", "/y", value), "remove", "/y") == document


def gateway() -> ir.GatewayIR:
    return next(iter(gateways_of(CASES / "envoypatchpolicy-route-header.in.yaml").values()))


def test_a_failing_policy_changes_nothing_and_the_others_apply() -> None:
    patched = gateway()
    unpatched = ir.hashed(msgspec.structs.replace(patched, envoy_patches=()))
    update = XdsTranslator().apply(patched)
    assert update.patch_outcomes["default/add-header"] is None
    assert update.patch_outcomes["default/broken"] is not None
    plain = build_resource_set(unpatched)
    routes = update.resources.of_type(ROUTE_CONFIGURATION)
    assert routes["default/eg/http/80"].version != plain.of_type(ROUTE_CONFIGURATION)["default/eg/http/80"].version
    only_broken = tuple(p for p in patched.envoy_patches if p.policy == "default/broken")
    alone = XdsTranslator().apply(ir.hashed(msgspec.structs.replace(patched, envoy_patches=only_broken)))
    assert alone.resources == plain


def test_patches_follow_ir_changes_and_go_away_when_removed() -> None:
    patched = gateway()
    translator = XdsTranslator()
    translator.apply(patched)
    header = next(p for p in patched.envoy_patches if p.policy == "default/add-header" and p.type_url == LISTENER)
    changed = msgspec.structs.replace(header, value=json.dumps(1024))
    patches = tuple(changed if p == header else p for p in patched.envoy_patches)
    update = translator.apply(ir.hashed(msgspec.structs.replace(patched, envoy_patches=patches)))
    assert set(update.changes) == {LISTENER}
    update = translator.apply(ir.hashed(msgspec.structs.replace(patched, envoy_patches=())))
    assert set(update.changes) == {LISTENER, ROUTE_CONFIGURATION}
    assert update.patch_outcomes == {}
    assert translator.resources == build_resource_set(ir.hashed(msgspec.structs.replace(patched, envoy_patches=())))
