"""Scalar formats that Kubernetes and Gateway API documents share: ports, durations, quantities, IP ranges.

Each is an `Annotated` type, so a value of the wrong shape fails decoding with the JSON path of the field.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
"""A TCP/UDP port number."""

DURATION_PATTERN = r"^([0-9]{1,5}(h|m|s|ms)){1,4}\Z"
Duration = Annotated[str, msgspec.Meta(pattern=DURATION_PATTERN)]
"""A Gateway API duration (GEP-2257): up to four `<number><unit>` parts, units h, m, s, ms: `1h30m`, `250ms`."""

Quantity = Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]+)?([EPTGMK]i|[EPTGMkmun])?\Z")] | int
"""A Kubernetes resource quantity: `10Mi`, `500Ki`, `1k`, or a plain integer."""

CIDR = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F.:]+/[0-9]{1,3}\Z")]
"""An IPv4 or IPv6 address range in CIDR notation: `10.0.0.0/8`, `2001:db8::/32`."""

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
Hostname = Annotated[str, msgspec.Meta(min_length=1, max_length=253, pattern=rf"^(\*\.)?{_LABEL}(\.{_LABEL})*\Z")]
"""A Gateway API hostname: lower case DNS labels, optionally behind a `*.` wildcard label."""

PreciseHostname = Annotated[str, msgspec.Meta(min_length=1, max_length=253, pattern=rf"^{_LABEL}(\.{_LABEL})*\Z")]
"""A Gateway API hostname without a wildcard."""

UINT32_MAX = 4_294_967_295
UInt32 = Annotated[int, msgspec.Meta(ge=0, le=UINT32_MAX)]
"""A count or size that Envoy holds in 32 bits, unsigned (as Envoy Gateway's CRDs bound it)."""

PositiveUInt32 = Annotated[int, msgspec.Meta(ge=1, le=UINT32_MAX)]
Percentage = Annotated[float, msgspec.Meta(ge=0, le=100)]
