"""Admin HTTP: health, readiness, Prometheus metrics, and read-only views of what the daemon serves.

    /healthz  /readyz  /metrics
    /api/v1/sequence                       the folded stream sequence
    /api/v1/objects?kind=&namespace=&name=&min_seq=   objects with their Gateway API status
    /api/v1/invalid                        objects whose latest document does not decode (and why)
    /api/v1/quarantine                     log records that are not valid events
    /api/v1/ir?gateway=NS/NAME             the IR per Gateway
    /api/v1/xds?gateway=NS/NAME            the Envoy resources per Gateway, with versions, as state-of-the-world
                                           clients get them; &variant=delta: as delta clients do (VHDS)
    /api/v1/envoys                         connected Envoys: node, Gateway, ACKed versions, recent NACKs
    /api/v1/digest                         the folded sequence and a digest of each Gateway's xDS: replicas
                                           at the same sequence (and nothing pending) serve the same bytes

`min_seq` makes a request wait until the fold has reached that stream sequence (or answer 504): that is how
`egd get` reads its own writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from egd.metrics import Metrics
from egd.sequence_watch import SequenceWatch
from egd.xds.servicer import ConnectedStream
from projections.pipeline import Pipeline
from projections.xds.resources import digest
from projections.xds.translate.fleet import XdsFleet
from projections.xds.translate.render import resource_documents

MIN_SEQ_WAIT_SECONDS = 10.0

_json = msgspec.json.Encoder()


class AdminViews(msgspec.Struct, kw_only=True):
    """What the admin server reads; each stage of the daemon contributes its part."""

    pipeline: Pipeline
    watch: SequenceWatch
    metrics: Metrics
    xds: XdsFleet
    streams: Mapping[int, ConnectedStream]
    is_ready: Callable[[], bool]
    xds_pending: Callable[[], bool]


def _json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(body), status=status, content_type="application/json")


def build_admin_app(views: AdminViews) -> web.Application:
    pipeline = views.pipeline

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if views.is_ready():
            return web.Response(text="ready\n")
        return web.Response(text="catching up with the event log\n", status=503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(views.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def sequence(_: web.Request) -> web.Response:
        return _json_response({"folded_seq": pipeline.state.last_seq})

    async def not_caught_up(request: web.Request) -> web.Response | None:
        """A 504 when the daemon has not folded and translated `min_seq` within the wait (read-your-writes); a
        400 when `min_seq` is not a sequence."""
        asked = request.query.get("min_seq", "0")
        # isdigit alone takes superscript and fullwidth digits; int() refuses more than 4,300 digits
        if not (asked.isascii() and asked.isdigit() and len(asked) <= 20):
            return _json_response({"error": f"min_seq must be a log sequence (0 or more), got {asked!r}"}, 400)
        min_seq = int(asked)
        if await views.watch.wait_for(min_seq, within=MIN_SEQ_WAIT_SECONDS):
            return None
        return _json_response(
            {"error": f"the daemon has not folded sequence {min_seq} yet (at {pipeline.state.last_seq})"}, 504
        )

    async def objects(request: web.Request) -> web.Response:
        if (late := await not_caught_up(request)) is not None:
            return late
        kind = request.query.get("kind")
        namespace = request.query.get("namespace")
        name = request.query.get("name")
        items = []
        outcomes = views.xds.patch_outcomes()
        for key, stored in sorted(pipeline.state.objects.items()):
            if (
                (kind is None or key.kind == kind)
                and (namespace is None or key.namespace == namespace)
                and (name is None or key.name == name)
            ):
                items.append(pipeline.document(stored, outcomes))
        return _json_response({"folded_seq": pipeline.state.last_seq, "items": items})

    async def invalid(_: web.Request) -> web.Response:
        return _json_response(sorted(pipeline.invalid.values(), key=lambda bad: bad.key))

    async def quarantine(_: web.Request) -> web.Response:
        state = pipeline.state
        return _json_response({"count": state.quarantine_count, "recent": list(state.quarantined)})

    async def gateway_ir(request: web.Request) -> web.Response:
        if (late := await not_caught_up(request)) is not None:
            return late
        wanted = request.query.get("gateway")
        gateways = pipeline.translator.gateways
        return _json_response([ir for name, ir in gateways.items() if wanted is None or name == wanted])

    async def xds(request: web.Request) -> web.Response:
        wanted = request.query.get("gateway")
        variant = request.query.get("variant", "sotw")
        if variant not in ("sotw", "delta"):
            return _json_response({"error": f"variant must be sotw or delta, got {variant!r}"}, 400)
        delta = variant == "delta"
        names = [wanted] if wanted else sorted(pipeline.translator.gateways)
        out = []
        for name in names:
            resources = views.xds.resources(name)
            if resources is not None:
                out.append({"gateway": name, "resources": resource_documents(resources, delta=delta)})
        return _json_response(out)

    async def envoys(_: web.Request) -> web.Response:
        return _json_response(
            [
                {
                    "stream_id": stream.info.stream_id,
                    "variant": stream.info.variant,
                    "node_id": stream.info.node_id,
                    "gateway": stream.info.node_group,
                    "peer": stream.info.peer,
                    "acked_versions": stream.acked_versions(),
                    "writing": stream.writing_since is not None,
                    "recent_nacks": [
                        {"type_url": n.type_url, "nonce": n.nonce, "code": n.error_code, "message": n.error_message}
                        for n in stream.nacks
                    ],
                }
                for stream in views.streams.values()
            ]
        )

    async def xds_digest(_: web.Request) -> web.Response:
        gateways = {}
        for name in sorted(pipeline.translator.gateways):
            resources = views.xds.resources(name)
            if resources is not None:
                gateways[name] = digest(resources)
        return _json_response(
            {"folded_seq": pipeline.state.last_seq, "xds_pending": views.xds_pending(), "gateways": gateways}
        )

    app = web.Application()
    for path, handler in (
        ("/healthz", healthz),
        ("/readyz", readyz),
        ("/metrics", metrics),
        ("/api/v1/sequence", sequence),
        ("/api/v1/objects", objects),
        ("/api/v1/invalid", invalid),
        ("/api/v1/quarantine", quarantine),
        ("/api/v1/ir", gateway_ir),
        ("/api/v1/xds", xds),
        ("/api/v1/envoys", envoys),
        ("/api/v1/digest", xds_digest),
    ):
        app.router.add_get(path, handler)
    return app
