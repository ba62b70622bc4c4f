"""The base of every IR struct."""

from __future__ import annotations

import msgspec


class IRStruct(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of every IR struct: immutable, keyword-only, defaults left out of the wire form."""
