"""The in-process caches of one server process, by name, so that MEMORY can clear every one.

Anything in Lumbung that caches in process registers here when the lifespan builds it: a
`clear` function that empties it (and says how many entries went), and a `size` function for
dry runs. A cache that holds named entries (the in-memory key/value store) also implements
`KeyedCache`, so `specificKeys` can pick entries out of it; the others are cleared whole or
left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from server.cache.keys import KeySelection


class InProcessCache(Protocol):
    @property
    def name(self) -> str: ...

    def size(self) -> int | None:
        """Entries held now (None when the cache cannot tell)."""

    def clear(self) -> int | None:
        """Empty the cache; return how many entries went (None when it cannot tell)."""


@runtime_checkable
class KeyedCache(InProcessCache, Protocol):
    def count_matching(self, selection: KeySelection) -> int: ...

    def delete_matching(self, selection: KeySelection) -> int: ...


@dataclass(frozen=True)
class FunctionCache:
    """A cache known only by a function that empties it and, maybe, one that sizes it."""

    name: str
    empty: Callable[[], object]
    measure: Callable[[], int | None] | None = None

    def size(self) -> int | None:
        return self.measure() if self.measure is not None else None

    def clear(self) -> int | None:
        held = self.size()
        self.empty()
        return held


class CacheRegistry:
    def __init__(self) -> None:
        self._caches: dict[str, InProcessCache] = {}

    def register(self, cache: InProcessCache) -> None:
        if cache.name in self._caches:
            raise ValueError(f"an in-process cache named {cache.name!r} is already registered")
        self._caches[cache.name] = cache

    def register_function(
        self,
        name: str,
        empty: Callable[[], object],
        size: Callable[[], int | None] | None = None,
    ) -> None:
        self.register(FunctionCache(name, empty, size))

    def __iter__(self) -> Iterator[InProcessCache]:
        return iter(list(self._caches.values()))

    def __len__(self) -> int:
        return len(self._caches)

    @property
    def names(self) -> list[str]:
        return list(self._caches)
