"""RateLimitConfigs over SotW xDS from a real `egd serve`, as envoyproxy/ratelimit subscribes: node.id
"default" (CONFIG_GRPC_XDS_NODE_ID) and no node.cluster, empty resource_names; every response carries every
domain, and the first comes even with no configuration."""

from __future__ import annotations

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

from egd.natsserver import pick_free_port
from projections.ratelimit import rls_conf_pb2
from projections.xds.resources import RATE_LIMIT_CONFIG
from tests.egd.daemon import Daemon
from tests.egd.serving import apply
from tests.egd.test_ratelimit_envoy import every_client
from tests.egd.xds.conftest import Stream


def gateway_with_policy(name: str, requests: int) -> str:
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: eg}}
spec: {{controllerName: gateway.envoyproxy.io/gatewayclass-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: {name}}}
spec:
  gatewayClassName: eg
  listeners: [{{name: http, protocol: HTTP, port: {pick_free_port()}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}-route}}
spec:
  parentRefs: [{{name: {name}}}]
  rules: [{{backendRefs: [{{name: nowhere, port: 80}}]}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {{name: {name}-limit}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: Gateway, name: {name}}}]
  rateLimit:
    type: Global
    global:
      rules: [{every_client(requests)}]
"""


def domains(response: discovery_pb2.DiscoveryResponse) -> dict[str, int]:
    found = {}
    for packed in response.resources:
        config = rls_conf_pb2.RateLimitConfig()
        assert packed.Unpack(config)
        found[config.domain] = config.descriptors[0].rate_limit.requests_per_unit
    return found


async def test_rl_gets_every_domain_in_every_response(daemon: Daemon) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{daemon.xds_port}") as channel:
        stream = Stream(channel, delta=False)
        await stream.send(discovery_pb2.DiscoveryRequest(type_url=RATE_LIMIT_CONFIG, node=base_pb2.Node(id="default")))
        first = await stream.recv(5)
        assert first.type_url == RATE_LIMIT_CONFIG
        assert domains(first) == {}  # answered even with no configuration: rl waits for it

        await apply(daemon, gateway_with_policy("one", 3))
        await apply(daemon, gateway_with_policy("two", 7))
        seen = {}
        while seen != {"default/one": 3, "default/two": 7}:
            seen = domains(await stream.recv(5))

        await apply(daemon, gateway_with_policy("two", 9))
        assert domains(await stream.recv(5)) == {"default/one": 3, "default/two": 9}
