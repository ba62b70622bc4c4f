"""`egd bootstrap --gateway NS/NAME [--xds-address H:P]... [--admin-port N] [--node-id ID]`: an Envoy bootstrap.

Envoy reads some of its Gateway's EnvoyProxy settings only from its bootstrap (stats sinks, the stats matcher),
so the command reads the Gateway's current state where `egd get` does (`--nats-url`, or the daemon recorded in
`--data-dir`) and renders them. With no daemon known (no `--nats-url` and none recorded in the data dir), or
with `--offline`, it prints the bootstrap without them, as it always has; a Gateway the daemon does not know
(yet) gets it too, with a warning on stderr. A daemon that is known but cannot be reached is an error (exit 3),
as for `egd get`: `--offline` skips reading.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import yaml

from egd.client import Target, open_store, resolve_target
from egd.commands.options import daemon_options
from egd.served import fetch_gateway_ir, translated_log
from events.errors import StoreUnavailableError
from projections import ir
from projections.xds.bootstrap import (
    DEFAULT_ADMIN_PORT,
    DEFAULT_XDS_ADDRESS,
    XdsAddress,
    XdsClientTls,
    build_bootstrap,
    parse_address,
    parse_gateway,
)


async def read_gateway_ir(target: Target, gateway: str) -> ir.GatewayIR | None:
    """The current IR of `gateway` (`<namespace>/<name>`): from the daemon's admin API once it has translated
    everything in the log now, else by folding the log (as `egd get` does); None when there is no such Gateway."""
    store = await open_store(target.nats_url)
    try:
        if target.admin_url is not None:
            return await fetch_gateway_ir(target.admin_url, min_seq=await store.last_seq(), gateway=gateway)
        pipeline = await translated_log(store)
    finally:
        await store.close()
    return pipeline.translator.gateways.get(gateway)


def _gateway_metrics(gateway: str, nats_url: str | None, data_dir: Path) -> ir.Metrics | None:
    try:
        target = resolve_target(nats_url, data_dir)
    except StoreUnavailableError:
        return None  # no daemon known: the bootstrap as it is without one
    found = asyncio.run(read_gateway_ir(target, gateway))
    if found is None:
        click.echo(f"warning: Gateway {gateway} not found: the bootstrap has none of its EnvoyProxy metrics", err=True)
        return None
    return found.telemetry.metrics if found.telemetry is not None else None


def _gateway(_: click.Context, __: click.Parameter, value: str) -> str:
    try:
        parse_gateway(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    return value


def _addresses(_: click.Context, __: click.Parameter, values: tuple[str, ...]) -> list[XdsAddress]:
    try:
        return [parse_address(v) for v in values or (DEFAULT_XDS_ADDRESS,)]
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


@click.command("bootstrap")
@click.option("--gateway", required=True, callback=_gateway, help="The Gateway this Envoy serves: NAMESPACE/NAME.")
@click.option(
    "--xds-address",
    "xds_addresses",
    multiple=True,
    callback=_addresses,
    help=f"egd's xDS address HOST:PORT; repeat for failover (default {DEFAULT_XDS_ADDRESS}).",
)
@click.option(
    "--admin-port", type=click.IntRange(0, 65535), default=DEFAULT_ADMIN_PORT, show_default=True, help="Envoy admin."
)
@click.option("--node-id", default="", help="node.id (default: NAMESPACE-NAME).")
@click.option("--xds-tls-ca", default=None, help="TLS to egd: the CA of its xDS certificate (a path for Envoy).")
@click.option("--xds-tls-cert", default=None, help="Mutual TLS: Envoy's client certificate (a path for Envoy).")
@click.option("--xds-tls-key", default=None, help="Mutual TLS: the key of --xds-tls-cert (a path for Envoy).")
@click.option("--xds-tls-sni", default=None, help="SNI to send, and the name egd's certificate must carry.")
@click.option(
    "--offline", is_flag=True, help="Do not read the Gateway's state: no EnvoyProxy stats sinks or stats matcher."
)
@daemon_options
def bootstrap_command(
    gateway: str,
    xds_addresses: list[XdsAddress],
    admin_port: int,
    node_id: str,
    xds_tls_ca: str | None,
    xds_tls_cert: str | None,
    xds_tls_key: str | None,
    xds_tls_sni: str | None,
    offline: bool,
    nats_url: str | None,
    data_dir: Path,
) -> None:
    """Print an Envoy bootstrap (YAML) that takes its configuration from egd over delta ADS, with the stats
    sinks and stats matcher of the Gateway's EnvoyProxy (read from the daemon found like `egd get` does)."""
    tls = None
    if xds_tls_ca is not None:
        if (xds_tls_cert is None) != (xds_tls_key is None):
            raise click.UsageError("--xds-tls-cert and --xds-tls-key go together")
        tls = XdsClientTls(ca_file=xds_tls_ca, cert_file=xds_tls_cert, key_file=xds_tls_key, sni=xds_tls_sni)
    elif xds_tls_cert or xds_tls_key or xds_tls_sni:
        raise click.UsageError("TLS to egd needs --xds-tls-ca (the CA that signed egd's xDS certificate)")
    metrics = None if offline else _gateway_metrics(gateway, nats_url, data_dir)
    bootstrap = build_bootstrap(
        gateway=gateway, xds_addresses=xds_addresses, admin_port=admin_port, node_id=node_id, tls=tls, metrics=metrics
    )
    click.echo(yaml.safe_dump(bootstrap, sort_keys=False), nl=False)
