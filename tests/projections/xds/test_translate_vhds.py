"""The VHDS form served to delta clients: the same virtual hosts as the inline form, split; built
incrementally (a changed route rebuilds one VirtualHost); patches to route configurations carried over;
golden files of a few cases in that form."""

from __future__ import annotations

import os

import msgspec
import pytest
import yaml
from google.protobuf import any_pb2
from hypothesis import given

from projections import ir
from projections.xds.resources import CLUSTER, LISTENER, ROUTE_CONFIGURATION, VIRTUAL_HOST, ResourceSet, diff
from projections.xds.translate import XdsTranslator, build_resource_set, vhds
from projections.xds.translate.names import http_route_configuration_name
from projections.xds.translate.render import decode_resource, resource_documents
from tests.projections.xds.gateway_ir import GATEWAY, gateway_irs, with_route
from tests.projections.xds.test_translate_golden import CASES, gateways_of
from tests.projections.xds.test_translate_incremental import PROPERTY, _one_listener_gateway


def split_of_inline(resources: ResourceSet) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The VHDS form computed from the inline route configurations (name -> serialised Any)."""
    configurations: dict[str, bytes] = {}
    hosts: dict[str, bytes] = {}
    for resource in resources.of_type(ROUTE_CONFIGURATION).values():
        configuration, virtual_hosts = vhds.split(decode_resource(ROUTE_CONFIGURATION, resource.body))
        configurations[configuration.name] = configuration.body
        hosts.update({h.name: h.body for h in virtual_hosts})
    return configurations, hosts


def bodies(resources: ResourceSet, type_url: str) -> dict[str, bytes]:
    return {name: r.body for name, r in resources.of_type(type_url, delta=True).items()}


@PROPERTY
@given(gateway_irs())
def test_the_vhds_form_is_the_inline_form_split(gateway: ir.GatewayIR) -> None:
    """Spliced per virtual host, the VHDS form has the very bytes of the inline route configurations split
    message by message: the same routes, whichever form a client reads."""
    resources = build_resource_set(gateway)
    configurations, hosts = split_of_inline(resources)
    assert bodies(resources, ROUTE_CONFIGURATION) == configurations
    assert bodies(resources, VIRTUAL_HOST) == hosts
    for resource in resources.of_type(VIRTUAL_HOST, delta=True).values():
        message = decode_resource(VIRTUAL_HOST, resource.body)
        assert message.SerializeToString(deterministic=True) == any_pb2.Any.FromString(resource.body).value
        assert message.name == resource.name  # Envoy keeps and removes VHDS virtual hosts by name


@PROPERTY
@given(gateway_irs())
def test_delta_changes_are_the_diff_of_what_delta_clients_are_served(gateway: ir.GatewayIR) -> None:
    translator = XdsTranslator()
    first = translator.apply(gateway)
    assert first.delta_changes == diff(ResourceSet(), first.resources.delta_view())
    again = translator.apply(gateway)
    assert again.delta_changes == {}
    for type_url in (ROUTE_CONFIGURATION, VIRTUAL_HOST):  # shared, not rebuilt
        assert again.resources.of_type(type_url, delta=True) is first.resources.of_type(type_url, delta=True)


def test_one_route_changed_sends_one_virtual_host_to_delta_clients() -> None:
    gateway = _one_listener_gateway(2_000)
    translator = XdsTranslator()
    before = translator.update(gateway)
    old = gateway.http[0].virtual_hosts[3].routes[5]
    changed = with_route(
        gateway, 0, 3, 5, ir.hashed(msgspec.structs.replace(old, path=ir.PathMatch(type="Exact", value="/x")))
    )
    update = translator.apply(changed)
    name = http_route_configuration_name(GATEWAY, 80)
    assert list(update.delta_changes) == [VIRTUAL_HOST]
    assert update.delta_changes[VIRTUAL_HOST].updated == (f"{name}/h3.example.com",)
    assert update.resources.of_type(ROUTE_CONFIGURATION, delta=True) is before.of_type(ROUTE_CONFIGURATION, delta=True)
    for type_url in (LISTENER, CLUSTER):
        assert update.resources.of_type(type_url, delta=True) is before.of_type(type_url, delta=True)
    sent = len(update.resources.of_type(VIRTUAL_HOST, delta=True)[f"{name}/h3.example.com"].body)
    whole = len(update.resources.of_type(ROUTE_CONFIGURATION)[name].body)
    assert sent * 8 < whole  # one virtual host of ten
    assert update.resources == build_resource_set(changed)


def test_a_patched_route_configuration_reaches_delta_clients_patched() -> None:
    """EnvoyPatchPolicy patches the inline RouteConfiguration; its VHDS form is split from the patched one."""
    (gateway,) = gateways_of(CASES / "envoypatchpolicy-route-header.in.yaml").values()
    resources = build_resource_set(gateway)
    name = f"{gateway.name}/http/80"
    configuration = decode_resource(ROUTE_CONFIGURATION, resources.of_type(ROUTE_CONFIGURATION, delta=True)[name].body)
    assert configuration.HasField("vhds")
    assert [h.header.key for h in configuration.response_headers_to_add] == ["x-patched"]
    assert split_of_inline(resources) == (
        bodies(resources, ROUTE_CONFIGURATION),
        bodies(resources, VIRTUAL_HOST),
    )


VHDS_CASES = [
    "envoypatchpolicy-route-header",
    "http-listeners-share-port",
    "httproute-basic",
    "gateway-https-certificate",
]


@pytest.mark.parametrize("case", VHDS_CASES)
def test_vhds_golden(case: str) -> None:
    """What delta clients are served, route configurations and virtual hosts: `<case>.vhds.out.yaml`."""
    output = []
    for name, gateway in sorted(gateways_of(CASES / f"{case}.in.yaml").items()):
        documents = resource_documents(build_resource_set(gateway), delta=True)
        routes = [d for d in documents if d["type_url"] in (ROUTE_CONFIGURATION, VIRTUAL_HOST)]
        output.append({"gateway": name, "resources": routes})
    rendered = yaml.safe_dump(output, sort_keys=False, width=120)
    golden = CASES / f"{case}.vhds.out.yaml"
    if os.environ.get("EGD_UPDATE_GOLDENS") == "1" or not golden.exists():
        golden.write_text(rendered)
    assert rendered == golden.read_text()
