"""MEMORY in this process: every cache of the registry, cleared (or counted, in a dry run)."""

from __future__ import annotations

from server.cache.keys import KeySelection
from server.cache.registry import CacheRegistry, KeyedCache
from server.cache.results import ItemResult, done, failure
from server.db.enums import CacheType


def clear_in_process(
    registry: CacheRegistry, selection: KeySelection, *, dry_run: bool, worker: str
) -> list[ItemResult]:
    """One item per cache. With specific keys only the keyed caches are looked at: the
    others (parser LRUs, reflected shapes) have no keys to pick, so they are left alone."""
    items: list[ItemResult] = []
    for cache in registry:
        name = f"{cache.name} in worker {worker}"
        try:
            if selection.is_everything:
                count = cache.size() if dry_run else cache.clear()
            elif isinstance(cache, KeyedCache):
                if dry_run:
                    count = cache.count_matching(selection)
                else:
                    count = cache.delete_matching(selection)
                name = f"{cache.name} {selection.describe()} in worker {worker}"
            else:
                continue
        except Exception as exc:
            items.append(failure(CacheType.MEMORY, name, exc))
            continue
        items.append(done(CacheType.MEMORY, name, count, dry_run=dry_run))
    return items
