"""What end-to-end tests of `egd serve` share: local HTTP backends, the documents that route to them,
`egd apply` as users run it, waiting for an answer through Envoy, and a steady request loop."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import aiohttp
import grpc
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from egd.commands.apply import apply_resources, make_audit
from egd.documents import STDIN_NAME, decode_documents, parse_documents
from egd.natsserver import pick_free_port
from tests.egd.daemon import Daemon, egd

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def start_http_app(
    handle: Handler,
    *,
    method: str = "*",
    path: str = "/{tail:.*}",
    host: str = "127.0.0.1",
    port: int | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[web.AppRunner, int]:
    """An aiohttp server on `host` (a free port unless given) where `handle` answers `method` on `path` (every
    request by default): its runner, to clean up, and its port."""
    app = web.Application()
    app.router.add_route(method, path, handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = port if port is not None else pick_free_port(host)
    await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    return runner, port


@asynccontextmanager
async def http_app(
    handle: Handler, *, method: str = "*", path: str = "/{tail:.*}", ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """`start_http_app` on 127.0.0.1 for the block: yields the port."""
    runner, port = await start_http_app(handle, method=method, path=path, ssl_context=ssl_context)
    try:
        yield port
    finally:
        await runner.cleanup()


@asynccontextmanager
async def http_apps(handlers: Mapping[str, Handler], *, method: str = "*") -> AsyncIterator[dict[str, int]]:
    """One `start_http_app` per name, each on its own port of 127.0.0.1: name -> port."""
    runners = {name: await start_http_app(handle, method=method) for name, handle in handlers.items()}
    try:
        yield {name: port for name, (_, port) in runners.items()}
    finally:
        for runner, _ in runners.values():
            await runner.cleanup()


def answering(body: str) -> Handler:
    """A handler answering every request with `<body> <path>`."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=f"{body} {request.path}")

    return answer


def echoing(name: str) -> Handler:
    """A handler answering every request with JSON: `backend` (`name`), the `path` and the request `headers`."""

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"backend": name, "path": request.path, "headers": dict(request.headers)})

    return echo


async def start_backend(body: str, host: str = "127.0.0.1", port: int | None = None) -> tuple[web.AppRunner, int]:
    """An HTTP server answering every request with `<body> <path>`."""
    return await start_http_app(answering(body), host=host, port=port)


def backends(*names: str) -> AbstractAsyncContextManager[dict[str, int]]:
    """One backend per name (answering `<name> <path>`), each on its own port of 127.0.0.1: name -> port."""
    return http_apps({name: answering(name) for name in names})


def echo_backends(*names: str) -> AbstractAsyncContextManager[dict[str, int]]:
    """One backend per name answering JSON (`echoing`), each on its own port of 127.0.0.1: name -> port."""
    return http_apps({name: echoing(name) for name in names})


class PolicyBackend:
    """A backend for traffic-policy tests: `/flaky` fails twice then answers, `/slow` sleeps 1 s, everything else
    answers its name as JSON (`{"backend": name}`); it counts the requests per path, and answers 503 to all of
    them while `failing`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits: dict[str, int] = {}
        self.failing = False
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        if self.failing:
            return web.Response(status=503, text="failing")
        if request.path.startswith("/flaky") and self.hits[request.path] % 3 != 0:
            return web.Response(status=503, text="flaky")
        if request.path.startswith("/slow"):
            await asyncio.sleep(1.0)
        return web.json_response({"backend": self.name})

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._runner, self.port = await start_http_app(self._handle, ssl_context=ssl_context)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class Startable(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


StartableT = TypeVar("StartableT", bound=Startable)


@asynccontextmanager
async def started(backends: dict[str, StartableT]) -> AsyncIterator[dict[str, StartableT]]:
    """`backends` started for the block, stopped after it."""
    for backend in backends.values():
        await backend.start()
    try:
        yield backends
    finally:
        for backend in backends.values():
            await backend.stop()


def policy_backends(*names: str) -> AbstractAsyncContextManager[dict[str, PolicyBackend]]:
    """One started `PolicyBackend` per name: name -> backend."""
    return started({name: PolicyBackend(name) for name in names})


@asynccontextmanager
async def grpc_service(add_to: Callable[[grpc.aio.Server], object]) -> AsyncIterator[int]:
    """A grpcio server on a free port of 127.0.0.1 serving what `add_to` adds to it, for the block: yields the
    port."""
    server = grpc.aio.server()
    add_to(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


@asynccontextmanager
async def backends_on_one_port(hosts: Sequence[str]) -> AsyncIterator[int]:
    """One backend per loopback address (answering with its address), all on the same port: the endpoints of
    one EndpointSlice. Yields the port."""
    port = pick_free_port()
    runners = [(await start_backend(host, host, port))[0] for host in hosts]
    try:
        yield port
    finally:
        for runner in runners:
            await runner.cleanup()


def service_documents(name: str, backend_port: int, addresses: Sequence[str] = ("127.0.0.1",), ready: int = -1) -> str:
    """A Service and its EndpointSlice; the first `ready` addresses are ready (all when -1), the others not."""
    ready = len(addresses) if ready < 0 else ready
    endpoints = ", ".join(
        f'{{addresses: ["{address}"], conditions: {{ready: {str(n < ready).lower()}}}}}'
        for n, address in enumerate(addresses)
    )
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  ports: [{{name: http, port: 80, targetPort: {backend_port}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-1
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
endpoints: [{endpoints}]
ports: [{{name: http, port: {backend_port}}}]
"""


def gateway_documents(listener_port: int, name: str = "edge", with_class: bool = True) -> str:
    gateway_class = """
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---"""
    return f"""{gateway_class if with_class else ""}
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: {name}}}
spec:
  gatewayClassName: eg
  addresses: [{{type: IPAddress, value: 127.0.0.1}}]
  listeners: [{{name: http, protocol: HTTP, port: {listener_port}}}]
"""


def route_document(service: str, prefix: str = "/", name: str = "web", gateway: str = "edge") -> str:
    return http_route(name, gateway, [f"{path_match(prefix)}, {backend_refs({service: 1})}"])


def http_route(name: str, gateway: str, rules: Sequence[str], hostnames: Sequence[str] = ()) -> str:
    """An HTTPRoute whose rules are given as YAML flow mappings without their braces, e.g. `matches: [...]`."""
    listed = "\n".join(f"    - {{{rule}}}" for rule in rules)
    hosts = f"\n  hostnames: [{', '.join(hostnames)}]" if hostnames else ""
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  parentRefs: [{{name: {gateway}}}]{hosts}
  rules:
{listed}
"""


def backend_refs(weights: dict[str, int]) -> str:
    """`backendRefs: [...]` for the rule of an `http_route`, with weights."""
    return "backendRefs: [" + ", ".join(f"{{name: {b}, port: 80, weight: {w}}}" for b, w in weights.items()) + "]"


def path_match(prefix: str, headers: dict[str, str] | None = None) -> str:
    header = ""
    if headers:
        header = ", headers: [" + ", ".join(f"{{name: {k}, value: {v}}}" for k, v in headers.items()) + "]"
    return f"matches: [{{path: {{type: PathPrefix, value: {prefix}}}{header}}}]"


async def apply(daemon: Daemon, documents: str) -> None:
    """`egd apply -f -` as a user runs it (a new Python process each time)."""
    result = await asyncio.to_thread(egd, "apply", "-f", "-", "--data-dir", str(daemon.data_dir), stdin=documents)
    assert result.returncode == 0, result.stderr


async def apply_here(daemon: Daemon, documents: str) -> None:
    """What `egd apply -f -` does, in this process (no interpreter start-up): validate, then append."""
    await apply_to(daemon.nats_url, documents)


async def apply_to(nats_url: str, documents: str) -> None:
    """`apply_here` for a NATS URL."""
    decoded = decode_documents(parse_documents(documents, STDIN_NAME))
    await apply_resources(nats_url, [(r.key, r.document) for r in decoded], make_audit("tests", "", "apply"))


async def delete(daemon: Daemon, kind: str, *names: str) -> None:
    result = await asyncio.to_thread(egd, "delete", kind, *names, "--data-dir", str(daemon.data_dir))
    assert result.returncode == 0, result.stderr


async def answer(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    """Status, body and headers of one GET that does not follow redirects."""
    async with session.get(url, headers=headers, allow_redirects=False) as response:
        return response.status, await response.text(), dict(response.headers)


async def fetch_json(
    session: aiohttp.ClientSession, url: str, **options: Any
) -> tuple[int, dict[str, Any], CIMultiDictProxy[str]]:
    """(status, JSON body or {}, response headers) of one GET within 5 s; status 0 when the connection or its
    TLS handshake fails."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=5), **options) as response:
            body = await response.json() if response.content_type == "application/json" else {}
            return response.status, body, response.headers
    except (aiohttp.ClientError, ssl.SSLError, ConnectionError):
        return 0, {}, CIMultiDictProxy(CIMultiDict())


async def until_served(
    session: aiohttp.ClientSession, url: str, *, what: str = "traffic through Envoy", **options: Any
) -> None:
    """Return once a GET of `url` (`fetch_json` with `options`) answers 200; fail after 20 s."""

    async def served() -> bool:
        return (await fetch_json(session, url, **options))[0] == 200

    await eventually(served, what=what)


async def request_status(session: aiohttp.ClientSession, method: str, url: str, **options: Any) -> int:
    """The status of one request within 3 s (its body read); 0 when the connection fails."""
    try:
        async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=3), **options) as response:
            await response.read()
            return response.status
    except aiohttp.ClientError:
        return 0


async def wait_for(
    url: str,
    expected: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    within: float = 10.0,
) -> float:
    """Seconds until `url` answers `status` with a body starting with `expected` (a regex when it starts
    with `^`)."""
    started = time.monotonic()
    last = ""
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - started < within:
            try:
                code, body, _ = await answer(session, url, headers)
                last = f"{code} {body}"
                matched = re.match(expected, body) if expected.startswith("^") else body.startswith(expected)
                if code == status and matched:
                    return time.monotonic() - started
            except aiohttp.ClientError as exc:
                last = repr(exc)
            await asyncio.sleep(0.01)
    raise AssertionError(f"{url} never answered {status} {expected!r} within {within}s; last: {last}")


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "") -> None:
    """Return once `check` holds, polling it every 50 ms; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within}s: {what}")


async def wait_for_body(url: str, expected: str, *, within: float = 15.0) -> float:
    return await wait_for(url, expected, within=within)


async def bodies(url: str, count: int, headers: dict[str, str] | None = None) -> Counter[str]:
    """How often each body came back over `count` requests (statuses other than 200 count as `<status>`)."""
    seen: Counter[str] = Counter()
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            code, body, _ = await answer(session, url, headers)
            seen[body if code == 200 else str(code)] += 1
    return seen


@dataclass
class RequestLoop:
    """Requests to `urls` in turn, back to back, until stopped; every answer that is not a 200 is a failure."""

    urls: Sequence[str]
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while not self._stop.is_set():
                for url in self.urls:
                    try:
                        code, body, _ = await answer(session, url)
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        self.failures.append(f"{url}: {exc!r}")
                        continue
                    if code == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"{url}: {code} {body[:80]}")
                await asyncio.sleep(0.002)

    async def __aenter__(self) -> RequestLoop:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task


def metric_values(exposition: str, name: str) -> dict[str, float]:
    """A Prometheus text exposition's samples of `name`: label string (e.g. `type="Cluster",variant="delta"`)
    -> value."""
    values: dict[str, float] = {}
    for line in exposition.splitlines():
        if line.startswith(f"{name}{{") or line.startswith(f"{name} "):
            labels, _, value = line[len(name) :].rpartition(" ")
            values[labels.strip("{}")] = float(value)
    return values
