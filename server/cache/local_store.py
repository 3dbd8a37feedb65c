"""The embedded default's in-memory key/value cache: what stands in for Redis without Redis.

One per server process, so it is an in-process cache: MEMORY clears it (in every worker, by
the broadcast when Redis exists, which it then does not, so in practice in the one process of
the embedded default). Entries may carry a time to live; expired ones are dropped when read
or counted. `specificKeys` select entries with the same exact-or-glob rules as in Redis.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from server.cache.keys import KeySelection


class LocalStore:
    name = "In-memory cache (stands in for Redis)"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, tuple[Any, float | None]] = {}
        self._clock = clock

    def set(self, key: str, value: Any, *, ttl_seconds: float | None = None) -> None:
        expires = None if ttl_seconds is None else self._clock() + ttl_seconds
        self._entries[key] = (value, expires)

    def get(self, key: str, default: Any = None) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return default
        value, expires = entry
        if expires is not None and expires <= self._clock():
            del self._entries[key]
            return default
        return value

    def delete(self, key: str) -> bool:
        return self._entries.pop(key, None) is not None

    def keys(self) -> list[str]:
        self._drop_expired()
        return list(self._entries)

    # --- InProcessCache / KeyedCache ------------------------------------------------------------
    def size(self) -> int:
        self._drop_expired()
        return len(self._entries)

    def clear(self) -> int:
        held = self.size()
        self._entries.clear()
        return held

    def count_matching(self, selection: KeySelection) -> int:
        return len(selection.select(self.keys()))

    def delete_matching(self, selection: KeySelection) -> int:
        chosen = selection.select(self.keys())
        for key in chosen:
            del self._entries[key]
        return len(chosen)

    def _drop_expired(self) -> None:
        now = self._clock()
        for key in [k for k, (_, exp) in self._entries.items() if exp is not None and exp <= now]:
            del self._entries[key]
