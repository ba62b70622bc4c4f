"""`egd serve`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from egd.commands.options import host_port
from egd.commands.points import parse_duration
from egd.daemon import ServeOptions, serve
from egd.datadir import DEFAULT_DATA_DIR
from egd.logs import configure_logging


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
@click.option("--redis-url", default=None, help="Redis for rate-limit counters shared by all replicas.")
@click.option(
    "--delivery-retention",
    default="7d",
    show_default=True,
    help="How long to keep the delivery audit (xDS sent to each Envoy, ACK/NACK), e.g. 7d, 12h; 0 turns it off.",
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
def serve_command(
    nats_url: str | None,
    data_dir: Path,
    xds_address: str,
    admin_address: str,
    redis_url: str | None,
    delivery_retention: str,
    log_level: str,
) -> None:
    """Run the daemon: fold the event log and serve xDS, rate limits and the admin API."""
    configure_logging(log_level)
    options = ServeOptions(
        data_dir=data_dir,
        nats_url=nats_url,
        xds_address=host_port(xds_address),
        admin_address=host_port(admin_address),
        redis_url=redis_url,
        delivery_retention=None if delivery_retention.strip() == "0" else parse_duration(delivery_retention),
    )
    asyncio.run(serve(options))
