"""Bad documents fail with an InvalidDocumentError that names the document and the JSON path of the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.errors import InvalidDocumentError
from projections.resources.core import Service
from projections.resources.decode import decode_resource
from projections.resources.meta import name_problem

WHERE = "svc.yaml, document 2 (line 9)"


def service(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"ports": [{"port": 80}], **spec},
    }


def btp(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "BackendTrafficPolicy",
        "metadata": {"name": "p"},
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}], **spec},
    }


def edited(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def http_route(**rule: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "x"},
        "spec": {"rules": [rule]},
    }


REDIRECT = {"type": "RequestRedirect", "requestRedirect": {"statusCode": 301}}
REWRITE = {"type": "URLRewrite", "urlRewrite": {"hostname": "b.example"}}
ADD_HEADER = {"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "a", "value": "b"}]}}
BACKEND = {"name": "svc", "port": 80}
PREFIX_TO_B = {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/b"}
ROUTE = f"HTTPRoute x/r at {WHERE}: $.spec"
DELETE = object()
GLOBAL = {"type": "Global", "global": {"rules": [{"limit": {"requests": 10, "unit": "Second"}}]}}

CASES = [
    # (document, expected error text after the document's name)
    ([1, 2], f"{WHERE}: $: a document must be a mapping, got a list"),
    (edited(service(), ("kind",), DELETE), f"<no kind> prod/web at {WHERE}: $.kind: is required"),
    (
        edited(service(), ("kind",), "Servce"),
        f"Servce prod/web at {WHERE}: $.kind: unknown kind 'Servce'; egd accepts ",
    ),
    (edited(service(), ("apiVersion",), DELETE), f"Service prod/web at {WHERE}: $.apiVersion: is required"),
    (
        edited(service(), ("apiVersion",), "v2"),
        f"Service prod/web at {WHERE}: $.apiVersion: 'v2' is not served for Service: v1",
    ),
    (edited(service(), ("metadata",), DELETE), f"Service default/<no name> at {WHERE}: $.metadata: is required"),
    (
        edited(service(), ("metadata", "name"), DELETE),
        f"Service prod/<no name> at {WHERE}: $.metadata.name: is required",
    ),
    (
        edited(service(), ("metadata", "name"), 7),
        f"Service prod/<no name> at {WHERE}: $.metadata.name: must be a string, got a number",
    ),
    (
        edited(service(), ("metadata", "name"), "Web_1"),
        f"Service prod/Web_1 at {WHERE}: $.metadata.name: 'Web_1' is not a valid DNS-1035 label: lower-case "
        "letters, digits or '-', starting with a letter and ending with a letter or digit",
    ),
    (
        edited(service(), ("metadata", "name"), "1web"),
        f"Service prod/1web at {WHERE}: $.metadata.name: '1web' is not a valid DNS-1035 label: lower-case "
        "letters, digits or '-', starting with a letter and ending with a letter or digit",
    ),
    (
        edited(service(), ("metadata", "name"), "a" * 64),
        f"Service prod/{'a' * 64} at {WHERE}: $.metadata.name: must be no more than 63 characters (got 64)",
    ),
    (
        edited(btp(), ("metadata", "name"), "a." * 127),
        f"BackendTrafficPolicy default/{'a.' * 127} at {WHERE}: $.metadata.name: must be no more than 253 "
        "characters (got 254)",
    ),
    (
        edited(service(), ("metadata", "namespace"), "Prod"),
        f"Service Prod/web at {WHERE}: $.metadata.namespace: 'Prod' is not a valid DNS-1123 label: lower-case "
        "letters, digits or '-', starting and ending with a letter or digit",
    ),
    (
        edited(service(), ("metadata", "labels"), {"app": 1}),
        f"Service prod/web at {WHERE}: $.metadata.labels[...]: Expected `str`, got `int`",
    ),
    (
        service(ports=[{"port": "80"}]),
        f"Service prod/web at {WHERE}: $.spec.ports[0].port: Expected `int`, got `str`",
    ),
    (
        service(ports=[{"port": 80}, {"port": 70000}]),
        f"Service prod/web at {WHERE}: $.spec.ports[1].port: Expected `int` <= 65535",
    ),
    (
        service(ports=[{"port": 80, "targetPort": "HTTP"}]),
        f"Service prod/web at {WHERE}: $.spec.ports[0].targetPort: Expected `str` matching regex "
        "'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
    ),
    (
        service(type="Internal"),
        f"Service prod/web at {WHERE}: $.spec.type: Invalid enum value 'Internal'",
    ),
    (
        service(type="ExternalName"),
        f"Service prod/web at {WHERE}: $.spec: a Service of type ExternalName needs spec.externalName",
    ),
    (
        {**btp(), "spec": {"rateLimit": GLOBAL}},
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec: a policy needs targetRef, targetRefs or targetSelectors",
    ),
    (
        btp(rateLimit={"type": "Global"}),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.rateLimit: a rate limit of type Global needs global",
    ),
    (
        btp(rateLimit=edited(GLOBAL, ("global", "rules", 0, "limit", "unit"), "Week")),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.rateLimit.global.rules[0].limit.unit: Invalid enum "
        "value 'Week'",
    ),
    (
        btp(rateLimit=edited(GLOBAL, ("global", "rules", 0, "limit", "requests"), -1)),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.rateLimit.global.rules[0].limit.requests: Expected "
        "`int` >= 0",
    ),
    (
        btp(rateLimit=edited(GLOBAL, ("global", "rules", 0, "limit"), DELETE)),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.rateLimit.global.rules[0]: Object missing required "
        "field `limit`",
    ),
    (
        btp(
            rateLimit=edited(
                GLOBAL, ("global", "rules", 0, "clientSelectors"), [{"headers": [{"name": "x", "type": "Prefix"}]}]
            )
        ),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.rateLimit.global.rules[0].clientSelectors[0].headers[0]"
        ".type: Invalid enum value 'Prefix'",
    ),
    (
        btp(
            rateLimit=edited(
                GLOBAL,
                ("global", "rules", 0, "clientSelectors"),
                [{"headers": [{"name": "x", "type": "Distinct", "value": "v"}]}],
            )
        ),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.rateLimit.global.rules[0].clientSelectors[0].headers[0]"
        ": a header match of type Distinct takes no value",
    ),
    (
        btp(
            rateLimit={
                "type": "Local",
                "local": {
                    "rules": [
                        {
                            "limit": {"requests": 1, "unit": "Second"},
                            "clientSelectors": [{"sourceCIDR": {"type": "Distinct", "value": "10.0.0.0/8"}}],
                        }
                    ]
                },
            }
        ),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.rateLimit.local: Distinct matches are supported by "
        "global rate limits only",
    ),
    (
        btp(
            rateLimit=edited(GLOBAL, ("global", "rules", 0, "clientSelectors"), [{"sourceCIDR": {"value": "10.0.0.0"}}])
        ),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.rateLimit.global.rules[0].clientSelectors[0].sourceCIDR"
        ".value: Expected `str` matching regex '^[0-9a-fA-F.:]+/[0-9]{1,3}$'",
    ),
    (
        btp(timeout={"http": {"requestTimeout": "30 seconds"}}),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.timeout.http.requestTimeout: Expected `str` matching "
        "regex '^([0-9]{1,5}(h|m|s|ms)){1,4}$'",
    ),
    (
        btp(loadBalancer={"type": "ConsistentHash"}),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.loadBalancer: a load balancer of type ConsistentHash "
        "needs consistentHash",
    ),
    (
        btp(retry={"retryOn": {"triggers": ["5xx", "sometimes"]}}),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.retry.retryOn.triggers[1]: Invalid enum value 'sometimes'",
    ),
    (
        btp(faultInjection={"abort": {"httpStatus": 503, "grpcStatus": 14}}),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.faultInjection.abort: an abort needs exactly one of "
        "httpStatus and grpcStatus",
    ),
    (
        btp(bandwidthLimit={}),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.bandwidthLimit: at least one of request or response "
        "must be specified",
    ),
    (
        btp(bandwidthLimit={"request": {"limit": {"value": "1Mi", "unit": "Day"}}}),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.bandwidthLimit.request.limit.unit: Invalid enum value "
        "'Day'",
    ),
    (
        btp(admissionControl={"minSuccessRate": 0}),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.admissionControl.minSuccessRate: Expected `int` >= 1",
    ),
    (
        btp(admissionControl={"successCriteria": {"grpc": {"statusCodes": ["OK"]}}}),
        f"BackendTrafficPolicy default/p at {WHERE}: $.spec.admissionControl.successCriteria.grpc.statusCodes[0]: "
        "Invalid enum value 'OK'",
    ),
    (
        {
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "HTTPRouteFilter",
            "metadata": {"name": "f", "namespace": "x"},
            "spec": {"credentialInjection": {"header": "X/Y", "credential": {"valueRef": {"name": "token"}}}},
        },
        f"HTTPRouteFilter x/f at {WHERE}: $.spec.credentialInjection.header: Expected `str` matching regex "
        '"^[A-Za-z0-9!#$%&\'*+\\\\-.^_`|~]+$"',
    ),
    (
        {
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "Backend",
            "metadata": {"name": "b", "namespace": "x"},
            "spec": {"endpoints": [{"ip": {"address": "10.0.0.1", "port": 80}, "unix": {"path": "/s"}}]},
        },
        f"Backend x/b at {WHERE}: $.spec.endpoints[0]: an endpoint needs exactly one of ip, fqdn and unix",
    ),
    # Gateway API's own validation (CRD schema and CEL rules), which an API server would apply
    (
        http_route(filters=[{"type": "RequestHeaderModifier"}]),
        f"{ROUTE}.rules[0].filters[0]: filter.requestHeaderModifier must be specified for RequestHeaderModifier "
        "filter.type",
    ),
    (
        http_route(filters=[{**ADD_HEADER, "urlRewrite": {"hostname": "b.example"}}]),
        f"{ROUTE}.rules[0].filters[0]: filter.urlRewrite must be nil if the filter.type is not URLRewrite",
    ),
    (
        http_route(filters=[REDIRECT, REWRITE]),
        f"{ROUTE}.rules[0]: may specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, "
        "not both",
    ),
    (http_route(filters=[REDIRECT, REDIRECT]), f"{ROUTE}.rules[0]: RequestRedirect filter cannot be repeated"),
    (
        http_route(backendRefs=[{**BACKEND, "filters": [ADD_HEADER, ADD_HEADER]}]),
        f"{ROUTE}.rules[0].backendRefs[0]: RequestHeaderModifier filter cannot be repeated",
    ),
    (
        http_route(filters=[REDIRECT], backendRefs=[BACKEND]),
        f"{ROUTE}.rules[0]: RequestRedirect filter must not be used together with backendRefs",
    ),
    (
        http_route(filters=[{"type": "RequestRedirect", "requestRedirect": {"statusCode": 999}}]),
        f"{ROUTE}.rules[0].filters[0].requestRedirect.statusCode: Invalid enum value 999",
    ),
    (
        http_route(filters=[{"type": "RequestRedirect", "requestRedirect": {"scheme": "ftp"}}]),
        f"{ROUTE}.rules[0].filters[0].requestRedirect.scheme: Invalid enum value 'ftp'",
    ),
    (
        http_route(
            filters=[
                {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath", "replacePrefixMatch": "/"}}}
            ]
        ),
        f"{ROUTE}.rules[0].filters[0].urlRewrite.path: replaceFullPath must be specified when type is set to "
        "'ReplaceFullPath', and only then",
    ),
    (
        http_route(
            filters=[
                {
                    "type": "RequestMirror",
                    "requestMirror": {"backendRef": BACKEND, "fraction": {"numerator": 1, "denominator": 0}},
                }
            ]
        ),
        f"{ROUTE}.rules[0].filters[0].requestMirror.fraction.denominator: Expected `int` >= 1",
    ),
    (
        http_route(
            filters=[
                {
                    "type": "RequestMirror",
                    "requestMirror": {"backendRef": BACKEND, "fraction": {"numerator": 3, "denominator": 2}},
                }
            ]
        ),
        f"{ROUTE}.rules[0].filters[0].requestMirror.fraction: numerator must be less than or equal to denominator",
    ),
    (
        http_route(
            matches=[{"path": {"type": "Exact", "value": "/a"}}],
            filters=[
                {
                    "type": "URLRewrite",
                    "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/b"}},
                }
            ],
        ),
        f"{ROUTE}.rules[0]: When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match "
        "must be specified",
    ),
    (
        http_route(
            matches=[{"path": {"value": "/a"}}, {"path": {"value": "/c"}}],
            filters=[
                {
                    "type": "RequestRedirect",
                    "requestRedirect": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/b"}},
                }
            ],
        ),
        f"{ROUTE}.rules[0]: When using RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix "
        "match must be specified",
    ),
    (
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "g", "namespace": "x"},
            "spec": {
                "gatewayClassName": "eg",
                "listeners": [
                    {"name": "a", "protocol": "HTTP", "port": 80, "hostname": "a.example.com"},
                    {"name": "a", "protocol": "HTTP", "port": 81, "hostname": "b.example.com"},
                ],
            },
        },
        f"Gateway x/g at {WHERE}: $.spec: Listener name must be unique within the Gateway",
    ),
    (
        {**http_route(), "spec": {"hostnames": ["FOO.example.com"]}},
        f"{ROUTE}.hostnames[0]: Expected `str` matching regex",
    ),
    (  # a pattern's $ would take it: patterns end with \Z
        {**http_route(), "spec": {"hostnames": ["foo.example.com\n"]}},
        f"{ROUTE}.hostnames[0]: Expected `str` matching regex",
    ),
]


@pytest.mark.parametrize(("doc", "expected"), CASES, ids=[str(n) for n in range(len(CASES))])
def test_bad_documents_are_named_with_the_path_of_the_bad_field(doc: Any, expected: str) -> None:
    with pytest.raises(InvalidDocumentError) as caught:
        decode_resource(doc, WHERE)
    if expected.endswith(("egd accepts ", "matching regex")):
        assert str(caught.value).startswith(expected)
    else:
        assert str(caught.value) == expected


def test_the_error_carries_its_parts() -> None:
    with pytest.raises(InvalidDocumentError) as caught:
        decode_resource(service(ports=[{"port": "80"}]), WHERE)
    assert caught.value.document == f"Service prod/web at {WHERE}"
    assert caught.value.path == "$.spec.ports[0].port"
    assert caught.value.message == "Expected `int`, got `str`"


def test_unknown_fields_are_ignored_not_rejected() -> None:
    doc = service(futureField={"anything": [1, 2]})
    doc["spec"]["ports"][0]["futurePortField"] = True
    resource = decode_resource(doc, WHERE)
    assert isinstance(resource.model, Service)
    assert resource.document is doc  # the whole document is what the event stores


def test_namespace_defaults_for_namespaced_kinds() -> None:
    doc = edited(service(), ("metadata", "namespace"), DELETE)
    assert decode_resource(doc, WHERE, default_namespace="team-a").key.namespace == "team-a"


_LABEL_CHARS = st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-")


@given(st.text(alphabet=_LABEL_CHARS, min_size=1, max_size=70))
def test_a_name_is_valid_exactly_when_kubernetes_would_accept_it(name: str) -> None:
    valid = (
        len(name) <= 63
        and name[0].isalnum()
        and name[-1].isalnum()
        and all(c.islower() or c.isdigit() or c == "-" for c in name)
    )
    assert (name_problem(name, name_format="dns1123-label") is None) == valid
    assert (name_problem(name, name_format="dns1035-label") is None) == (valid and name[0].isalpha())
