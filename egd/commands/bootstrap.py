"""`egd bootstrap --gateway NS/NAME [--xds-address H:P]... [--admin-port N] [--node-id ID]`: an Envoy bootstrap."""

from __future__ import annotations

import click
import yaml

from projections.xds.bootstrap import (
    DEFAULT_ADMIN_PORT,
    DEFAULT_XDS_ADDRESS,
    XdsAddress,
    XdsClientTls,
    build_bootstrap,
    parse_address,
    parse_gateway,
)


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
def bootstrap_command(
    gateway: str,
    xds_addresses: list[XdsAddress],
    admin_port: int,
    node_id: str,
    xds_tls_ca: str | None,
    xds_tls_cert: str | None,
    xds_tls_key: str | None,
    xds_tls_sni: str | None,
) -> None:
    """Print an Envoy bootstrap (YAML) that takes its configuration from egd over delta ADS."""
    tls = None
    if xds_tls_ca is not None:
        if (xds_tls_cert is None) != (xds_tls_key is None):
            raise click.UsageError("--xds-tls-cert and --xds-tls-key go together")
        tls = XdsClientTls(ca_file=xds_tls_ca, cert_file=xds_tls_cert, key_file=xds_tls_key, sni=xds_tls_sni)
    elif xds_tls_cert or xds_tls_key or xds_tls_sni:
        raise click.UsageError("TLS to egd needs --xds-tls-ca (the CA that signed egd's xDS certificate)")
    bootstrap = build_bootstrap(
        gateway=gateway, xds_addresses=xds_addresses, admin_port=admin_port, node_id=node_id, tls=tls
    )
    click.echo(yaml.safe_dump(bootstrap, sort_keys=False), nl=False)
