"""Removing keys from Redis by prefix: SCAN + UNLINK in batches, never KEYS/FLUSHDB/FLUSHALL.

Used by REDIS (the application's cache prefix) and by SESSION (the session prefix). KEYS would
block Redis for the whole keyspace and FLUSHDB/FLUSHALL would take every other user's keys with
it; SCAN walks the keyspace a batch at a time and UNLINK frees values off Redis's main thread,
so other clients keep being served during a clear of millions of keys.

Each round trip is one pipeline (no MULTI: a transaction would hold Redis for the whole batch
list) carrying the UNLINK of the batch found by the previous SCAN and the next SCAN, so
finding and removing overlap and a batch costs one round trip, not two.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.cache.keys import KeySelection, escape_glob

DEFAULT_BATCH = 1000


class ClearInterrupted(Exception):
    """Redis went away part way; `removed` keys were already gone by then."""

    def __init__(self, removed: int) -> None:
        super().__init__(f"interrupted after {removed} keys were removed")
        self.removed = removed


class RedisKeyClearer:
    def __init__(self, redis: Redis, *, batch: int = DEFAULT_BATCH) -> None:
        self._redis = redis
        self._batch = batch

    async def clear(self, prefix: str, selection: KeySelection, *, dry_run: bool) -> int:
        """Remove (or count) the selected keys under `prefix`; raise ClearInterrupted when
        Redis fails part way (with how many were removed before)."""
        if not prefix:
            raise ValueError("an empty prefix would match every key in Redis")
        tally = _Tally()
        try:
            if names := selection.exact_names(prefix):
                await self._exact(names, tally, dry_run=dry_run)
                return tally.count
            patterns = selection.scan_patterns(prefix)
            if dry_run and len(patterns) > 1:
                # Overlapping patterns would count a key once per pattern: one pass instead.
                await self._count_filtered(prefix, selection, tally)
                return tally.count
            for match in patterns:
                if dry_run:
                    await self._count(match, tally)
                else:
                    await self._scan_unlink(match, tally)
        except (RedisError, OSError) as exc:
            raise ClearInterrupted(0 if dry_run else tally.count) from exc
        return tally.count

    async def _scan_unlink(self, match: str, tally: _Tally) -> None:
        cursor = 0
        found: Sequence[bytes] = []
        while True:
            pipe = self._redis.pipeline(transaction=False)
            if found:
                pipe.unlink(*found)
            pipe.scan(cursor, match=match, count=self._batch)
            replies = await pipe.execute()
            if found:
                tally.count += int(replies[0])
            cursor, found = replies[-1]
            if cursor == 0:
                break
        if found:
            tally.count += int(await self._redis.unlink(*found))

    async def _count(self, match: str, tally: _Tally) -> None:
        # SCAN may return a key twice while Redis resizes its table: a dry run is then a
        # slight overcount, never an undercount.
        cursor = 0
        while True:
            cursor, found = await self._redis.scan(cursor, match=match, count=self._batch)
            tally.count += len(found)
            if cursor == 0:
                return

    async def _count_filtered(self, prefix: str, selection: KeySelection, tally: _Tally) -> None:
        matcher = selection.matcher(prefix)
        cursor = 0
        while True:
            cursor, found = await self._redis.scan(
                cursor, match=escape_glob(prefix) + "*", count=self._batch
            )
            tally.count += sum(1 for key in found if matcher.fullmatch(_text(key)))
            if cursor == 0:
                return

    async def _exact(self, names: list[str], tally: _Tally, *, dry_run: bool) -> None:
        # Exact keys go by name (UNLINK/EXISTS take no patterns), so `*?[]\` in a key are
        # only ever themselves.
        for start in range(0, len(names), self._batch):
            chunk = names[start : start + self._batch]
            reply = await (self._redis.exists(*chunk) if dry_run else self._redis.unlink(*chunk))
            tally.count += int(reply)


class _Tally:
    """Keys removed so far, kept outside the loops so an interruption can still report it."""

    def __init__(self) -> None:
        self.count = 0


def _text(key: bytes | str) -> str:
    return key if isinstance(key, str) else key.decode("utf-8", "surrogateescape")
