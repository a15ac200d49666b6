"""What the lookup keeps in memory: at most `max_entries` values, each for `ttl_seconds`, the least
recently used let go first (the entries, the verification verdicts, the proven log inclusions)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Kept(Generic[K, V]):
    def __init__(
        self,
        max_entries: int,
        ttl_seconds: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.ttl = ttl_seconds
        self.clock = clock
        self._values: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value kept under `key`, None when there is none or its time is up."""
        kept = self._values.get(key)
        if kept is None or kept[0] <= self.clock():
            return None
        self._values.move_to_end(key)
        return kept[1]

    def put(self, key: K, value: V) -> None:
        self._values[key] = (self.clock() + self.ttl, value)
        self._values.move_to_end(key)
        while len(self._values) > self.max_entries:
            self._values.popitem(last=False)

    def pop(self, key: K) -> None:
        self._values.pop(key, None)

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
