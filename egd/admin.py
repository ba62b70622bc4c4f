"""Admin HTTP: health, readiness, Prometheus metrics, and read-only views of what the daemon folded.

`/api/v1/objects` takes `min_seq`: it answers once the fold has reached that stream sequence (or 504), which
is how `egd get` reads its own writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from egd.metrics import Metrics
from egd.sequence_watch import SequenceWatch
from projections.state import ResourceState, as_document

MIN_SEQ_WAIT_SECONDS = 10.0

_json = msgspec.json.Encoder()


class AdminViews(msgspec.Struct, kw_only=True):
    """What the admin server reads; each stage of the daemon contributes its part."""

    state: ResourceState
    watch: SequenceWatch
    metrics: Metrics
    is_ready: Callable[[], bool]


def _json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(body), status=status, content_type="application/json")


def build_admin_app(views: AdminViews) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if views.is_ready():
            return web.Response(text="ready\n")
        return web.Response(text="catching up with the event log\n", status=503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(views.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def sequence(_: web.Request) -> web.Response:
        return _json_response({"folded_seq": views.state.last_seq})

    async def objects(request: web.Request) -> web.Response:
        min_seq = int(request.query.get("min_seq", "0"))
        if not await views.watch.wait_for(min_seq, within=MIN_SEQ_WAIT_SECONDS):
            return _json_response(
                {"error": f"the daemon has not folded sequence {min_seq} yet (at {views.state.last_seq})"}, 504
            )
        kind = request.query.get("kind")
        namespace = request.query.get("namespace")
        name = request.query.get("name")
        items = [
            as_document(stored)
            for key, stored in sorted(views.state.objects.items())
            if (kind is None or key.kind == kind)
            and (namespace is None or key.namespace == namespace)
            and (name is None or key.name == name)
        ]
        return _json_response({"folded_seq": views.state.last_seq, "items": items})

    async def quarantine(_: web.Request) -> web.Response:
        return _json_response({"count": views.state.quarantine_count, "recent": list(views.state.quarantined)})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/sequence", sequence)
    app.router.add_get("/api/v1/objects", objects)
    app.router.add_get("/api/v1/quarantine", quarantine)
    return app
