"""`egd serve`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from egd.client import current_nats_auth
from egd.commands.options import host_port, nats_auth_options
from egd.commands.points import parse_duration
from egd.daemon import ServeOptions, serve
from egd.datadir import DEFAULT_DATA_DIR
from egd.logs import configure_logging
from egd.snapshotter import SnapshotPolicy
from egd.tls import envoy_tls_from_flags, server_tls_from_flags
from projections.gatewayapi.options import TranslateOptions

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


@click.command("serve")
@click.option(
    "--nats-url",
    default=None,
    envvar="EGD_NATS_URL",
    help="NATS to use; without it egd starts its own nats-server stored in the data dir.",
)
@click.option(
    "--data-dir", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_DATA_DIR, show_default=True
)
@click.option("--xds-address", default="127.0.0.1:18000", show_default=True, help="HOST:PORT of the xDS server.")
@click.option("--admin-address", default="127.0.0.1:19000", show_default=True, help="HOST:PORT of admin HTTP.")
@click.option(
    "--stream-replicas",
    type=click.IntRange(1, 5),
    default=1,
    show_default=True,
    help="Replicas of the event stream when egd creates it (3 on a 3-node NATS cluster).",
)
@click.option(
    "--max-ready-lag",
    type=click.IntRange(0),
    default=1000,
    show_default=True,
    help="/readyz answers 503 while the fold is more than this many events behind the stream.",
)
@click.option(
    "--snapshots/--no-snapshots",
    default=True,
    show_default=True,
    help="Load the newest snapshot on start and write new ones (off: replay the whole log).",
)
@click.option(
    "--snapshot-every-events",
    type=click.IntRange(1),
    default=10_000,
    show_default=True,
    help="Write a snapshot of the folded state after this many events.",
)
@click.option(
    "--snapshot-every-seconds",
    type=click.FloatRange(0.1),
    default=60.0,
    show_default=True,
    help="...or after this many seconds, whichever comes first.",
)
@click.option("--redis-url", default=None, help="Redis for rate-limit counters shared by all replicas.")
@click.option("--xds-tls-cert", type=_FILE, default=None, help="Serve xDS over TLS with this certificate (PEM).")
@click.option("--xds-tls-key", type=_FILE, default=None, help="Key of --xds-tls-cert (PEM).")
@click.option(
    "--xds-client-ca",
    type=_FILE,
    default=None,
    help="Mutual TLS: require Envoys to present a certificate signed by this CA (PEM).",
)
@click.option(
    "--ratelimit-address",
    default="127.0.0.1:18081",
    show_default=True,
    help="HOST:PORT of egd's rate-limit service (Envoys reach it there: it is in their xDS).",
)
@click.option(
    "--ratelimit-tls-cert", type=_FILE, default=None, help="Serve rate limits over TLS with this certificate (PEM)."
)
@click.option("--ratelimit-tls-key", type=_FILE, default=None, help="Key of --ratelimit-tls-cert (PEM).")
@click.option(
    "--ratelimit-client-ca",
    type=_FILE,
    default=None,
    help="Mutual TLS: require Envoys to present a certificate signed by this CA (PEM).",
)
@click.option(
    "--ratelimit-envoy-tls-ca",
    default=None,
    help="Rate limits over TLS: the CA Envoys verify egd's certificate with (a path on the Envoys' hosts).",
)
@click.option(
    "--ratelimit-envoy-tls-cert",
    default=None,
    help="Mutual TLS: the client certificate Envoys present (a path on the Envoys' hosts).",
)
@click.option(
    "--ratelimit-envoy-tls-key",
    default=None,
    help="The key of --ratelimit-envoy-tls-cert (a path on the Envoys' hosts).",
)
@click.option(
    "--ratelimit-envoy-tls-sni", default=None, help="SNI Envoys send, and the name egd's certificate must carry."
)
@click.option(
    "--redis-key-prefix", default="", help="Prefix of every rate-limit counter key in Redis (rl's CACHE_KEY_PREFIX)."
)
@click.option(
    "--enable-envoy-patch-policy",
    is_flag=True,
    help="Apply EnvoyPatchPolicies to the generated xDS (off: they are reported Disabled).",
)
@click.option(
    "--delivery-retention",
    default="7d",
    show_default=True,
    help="How long to keep the delivery audit (xDS sent to each Envoy, ACK/NACK), e.g. 7d, 12h; 0 turns it off.",
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
@nats_auth_options
def serve_command(
    nats_url: str | None,
    data_dir: Path,
    xds_address: str,
    admin_address: str,
    redis_url: str | None,
    xds_tls_cert: Path | None,
    xds_tls_key: Path | None,
    xds_client_ca: Path | None,
    stream_replicas: int,
    max_ready_lag: int,
    snapshots: bool,
    snapshot_every_events: int,
    snapshot_every_seconds: float,
    ratelimit_address: str,
    ratelimit_tls_cert: Path | None,
    ratelimit_tls_key: Path | None,
    ratelimit_client_ca: Path | None,
    ratelimit_envoy_tls_ca: str | None,
    ratelimit_envoy_tls_cert: str | None,
    ratelimit_envoy_tls_key: str | None,
    ratelimit_envoy_tls_sni: str | None,
    redis_key_prefix: str,
    enable_envoy_patch_policy: bool,
    delivery_retention: str,
    log_level: str,
) -> None:
    """Run the daemon: fold the event log and serve xDS, rate limits and the admin API."""
    configure_logging(log_level)
    try:
        xds_tls = server_tls_from_flags(xds_tls_cert, xds_tls_key, xds_client_ca)
    except ValueError as error:
        raise click.UsageError(f"--xds-tls-cert/--xds-tls-key/--xds-client-ca: {error}") from error
    try:
        ratelimit_tls = server_tls_from_flags(ratelimit_tls_cert, ratelimit_tls_key, ratelimit_client_ca)
        ratelimit_envoy_tls = envoy_tls_from_flags(
            ratelimit_tls,
            ratelimit_envoy_tls_ca,
            ratelimit_envoy_tls_cert,
            ratelimit_envoy_tls_key,
            ratelimit_envoy_tls_sni,
        )
    except ValueError as error:
        raise click.UsageError(f"--ratelimit-tls-*/--ratelimit-client-ca/--ratelimit-envoy-tls-*: {error}") from error
    options = ServeOptions(
        data_dir=data_dir,
        nats_url=nats_url,
        xds_address=host_port(xds_address),
        admin_address=host_port(admin_address),
        redis_url=redis_url,
        stream_replicas=stream_replicas,
        max_ready_lag=max_ready_lag,
        nats_auth=current_nats_auth(),
        xds_tls=xds_tls,
        snapshots=SnapshotPolicy(
            enabled=snapshots, every_events=snapshot_every_events, every_seconds=snapshot_every_seconds
        ),
        ratelimit_address=host_port(ratelimit_address),
        ratelimit_tls=ratelimit_tls,
        ratelimit_envoy_tls=ratelimit_envoy_tls,
        redis_key_prefix=redis_key_prefix,
        translate=TranslateOptions(envoy_patch_policy=enable_envoy_patch_policy),
        delivery_retention=None if delivery_retention.strip() == "0" else parse_duration(delivery_retention),
    )
    asyncio.run(serve(options))
