"""The base of every IR struct."""

from __future__ import annotations

import msgspec


class IRStruct(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Base of every IR struct: immutable, keyword-only, defaults left out of the wire form.

    Not tracked by the cyclic garbage collector (`gc=False`): an IR tree holds only scalars, tuples and other IR
    structs, so it cannot form a reference cycle, and a translation keeps hundreds of thousands of them that
    the collector would otherwise scan again and again."""
