"""A small typed bus that keeps the latest value per key and wakes whoever watches that key.

Stages talk through it (Envoy Gateway's watchable maps): a publisher sets `key -> value` and never
blocks; a watcher is woken and reads the latest value when it is ready. Values published while a
watcher is busy are coalesced: it only ever sees the newest, never a queue of old ones.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Watch(Generic[K, V]):
    """One watcher of one key. `changed` is set on every publish to the key; the watcher clears it."""

    __slots__ = ("_bus", "changed", "key")

    def __init__(self, bus: LatestValues[K, V], key: K) -> None:
        self._bus = bus
        self.key = key
        self.changed = asyncio.Event()

    def latest(self) -> V | None:
        return self._bus.get(self.key)

    def close(self) -> None:
        self._bus._unwatch(self)

    def __enter__(self) -> Watch[K, V]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class LatestValues(Generic[K, V]):
    def __init__(self) -> None:
        self._values: dict[K, V] = {}
        self._watches: dict[K, set[Watch[K, V]]] = {}
        self._settled: V | None = None
        self._withheld: set[K] = set()

    def publish(self, key: K, value: V) -> None:
        """Set the latest value of `key` and wake its watchers. Never blocks, whatever the watchers do."""
        self._values[key] = value
        self._withheld.discard(key)
        for watch in self._watches.get(key, ()):
            watch.changed.set()

    def settle(self, absent: V) -> None:
        """From now on a key never published reads as `absent`: every value there is to publish was published
        (start-up is done), so such a key is known to hold nothing, rather than not known yet. Wakes its
        watchers."""
        self._settled = absent
        for key, watches in self._watches.items():
            if key not in self._values:
                for watch in watches:
                    watch.changed.set()

    def withhold(self, key: K) -> None:
        """`key` has a value that could not be published (its producer failed): until it is, it reads as its
        last value, or None if it never had one, also once settled."""
        self._withheld.add(key)

    def get(self, key: K) -> V | None:
        """The latest value of `key`; for a key never published, None until `settle`, then what it was given
        (unless withheld)."""
        found = self._values.get(key)
        if found is not None or key in self._withheld:
            return found
        return self._settled

    def has(self, key: K) -> bool:
        """Whether `key` was published."""
        return key in self._values

    def keys(self) -> list[K]:
        return list(self._values)

    def watch(self, key: K) -> Watch[K, V]:
        """Watch `key`; `changed` starts set when the key already has a value. Close it when done."""
        watch = Watch(self, key)
        self._watches.setdefault(key, set()).add(watch)
        if self.get(key) is not None:
            watch.changed.set()
        return watch

    def watcher_count(self, key: K | None = None) -> int:
        if key is not None:
            return len(self._watches.get(key, ()))
        return sum(len(w) for w in self._watches.values())

    def _unwatch(self, watch: Watch[K, V]) -> None:
        watches = self._watches.get(watch.key)
        if watches is None:
            return
        watches.discard(watch)
        if not watches:
            del self._watches[watch.key]
