"""The Gateways whose IR changed since a stage last built from them.

The translator marks them as it goes and never waits; a stage (the xDS publisher, the rate-limit runner)
takes the whole set when it next runs, so a burst of changes costs the stage one build per Gateway.
"""

from __future__ import annotations

import asyncio

from projections.gatewayapi.translator import Changes


class ChangedGateways:
    def __init__(self) -> None:
        self._names: set[str] = set()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()

    def mark(self, changes: Changes) -> None:
        if changes.gateways or changes.gateways_removed:
            self._names.update(changes.gateways)
            self._names.update(changes.gateways_removed)
            self._wake.set()
            self._drained.clear()

    def pending(self) -> bool:
        return bool(self._names)

    async def take(self) -> list[str]:
        """Wait until some Gateway changed; every changed one, sorted, and the set emptied."""
        await self._wake.wait()
        self._wake.clear()
        names, self._names = sorted(self._names), set()
        self._drained.set()
        return names

    async def drained(self) -> None:
        """Wait until every Gateway marked so far has been taken: the stage builds what it takes before it
        awaits anything, so by the time this returns the stage has built them."""
        await self._drained.wait()
