"""Waiting until the fold has reached a stream sequence: what makes `egd get` read its own writes."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class SequenceWatch:
    def __init__(self) -> None:
        self.seq = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._tiebreak = itertools.count()

    def advance(self, seq: int) -> None:
        self.seq = seq
        while self._waiters and self._waiters[0][0] <= seq:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)

    async def wait_for(self, seq: int, within: float) -> bool:
        """True once the fold has reached `seq`; False if it has not within `within` seconds."""
        if self.seq >= seq:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (seq, next(self._tiebreak), future))
        try:
            async with asyncio.timeout(within):
                await asyncio.shield(future)
        except TimeoutError:
            return False
        return True
