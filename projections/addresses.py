"""Network addresses as configuration names them."""

from __future__ import annotations

import ipaddress


def is_ip_address(value: str) -> bool:
    """Whether `value` is an IPv4 or IPv6 address (not a hostname)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
