"""`ChangedGateways`: a stage takes every Gateway marked since it last took, and `drained` tells when it has."""

from __future__ import annotations

import asyncio

from egd.changed_gateways import ChangedGateways
from projections.gatewayapi.translator import Changes


async def test_drained_once_every_marked_gateway_is_taken() -> None:
    changed = ChangedGateways()
    await asyncio.wait_for(changed.drained(), timeout=1)  # nothing marked yet
    changed.mark(Changes(gateways=("default/b", "default/a")))
    changed.mark(Changes(gateways_removed=("default/c",)))
    drained = asyncio.create_task(changed.drained())
    await asyncio.sleep(0.01)
    assert not drained.done() and changed.pending()
    assert await changed.take() == ["default/a", "default/b", "default/c"]
    await asyncio.wait_for(drained, timeout=1)
    assert not changed.pending()


async def test_marking_nothing_leaves_it_drained() -> None:
    changed = ChangedGateways()
    changed.mark(Changes())
    await asyncio.wait_for(changed.drained(), timeout=1)
    assert not changed.pending()
