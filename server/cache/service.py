"""clearCache's service: run the clearers a request asks for, then write the CacheLog.

Every kind is cleared concurrently and independently: a backend that is down fails its own
items (BACKEND_UNAVAILABLE, with the reason) and the others are still cleared. Nothing here
raises for a backend; the caller decides what an all-failed outcome means for its client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import replace
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.cache.broadcast import WorkerBroadcast, WorkerOrder
from server.cache.database import clear_pool, clear_query_cache
from server.cache.local_store import LocalStore
from server.cache.memory import clear_in_process
from server.cache.outcome import ClearOutcome
from server.cache.registry import CacheRegistry
from server.cache.request import EVERY_TYPE, ClearRequest
from server.cache.results import ItemResult, failed, failure, skipped
from server.cache.stores import FolderTarget, clear_folders, clear_redis_prefixes
from server.db.enums import CacheType
from server.db.models import CacheLog
from server.settings import Settings
from server.system.users import UserDirectory

log = logging.getLogger("lumbung.cache")

REDIS_UNSET = "Redis is not configured (LUMBUNG_REDIS_URL is unset)"


def this_worker() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


class CacheService:
    def __init__(
        self,
        settings: Settings,
        *,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        users: UserDirectory,
        redis: Redis | None,
        worker: str | None = None,
    ) -> None:
        self.settings = settings
        self.worker = worker or this_worker()
        self.registry = CacheRegistry()
        # Without Redis the embedded default keeps its cache in process, as MEMORY's.
        self.local_store = LocalStore() if redis is None else None
        self._engine = engine
        self._sessions = sessions
        self._redis = redis
        self._broadcast = (
            WorkerBroadcast(
                redis,
                channel=settings.cache_broadcast_channel,
                worker=self.worker,
                handler=self.clear_this_worker,
                timeout=settings.cache_broadcast_timeout_seconds,
            )
            if redis is not None
            else None
        )
        self._register_own_caches(users)

    def _register_own_caches(self, users: UserDirectory) -> None:
        sync_engine = self._engine.sync_engine
        self.registry.register_function("User table shape", users.forget)
        self.registry.register_function(
            "Compiled SQL cache",
            sync_engine.clear_compiled_cache,
            lambda: len(sync_engine._compiled_cache or {}),
        )
        if self.local_store is not None:
            self.registry.register(self.local_store)

    @property
    def broadcast(self) -> WorkerBroadcast | None:
        return self._broadcast

    async def start(self) -> None:
        if self._broadcast is not None:
            await self._broadcast.start()

    async def close(self) -> None:
        if self._broadcast is not None:
            await self._broadcast.close()

    # --- one clear ------------------------------------------------------------------------------
    async def clear(self, request: ClearRequest, *, actor_id: int) -> ClearOutcome:
        started = time.perf_counter()
        (worker_items, workers), *groups = await asyncio.gather(
            self._across_workers(request),
            self._query_cache(request),
            self._session(request),
            self._files(request),
            self._redis_keys(request),
        )
        items = [*worker_items, *(item for group in groups for item in group)]
        order = {cache_type: n for n, cache_type in enumerate(EVERY_TYPE)}
        items.sort(key=lambda item: order.get(item.cache_type, len(order)))
        outcome = ClearOutcome(request, items, workers, int((time.perf_counter() - started) * 1000))
        outcome = await self._record(outcome, actor_id)
        log.info(
            "caches cleared",
            extra={
                "event": "cache.cleared",
                "actor": actor_id,
                "cache_type": request.cache_type.value,
                "dry_run": request.dry_run,
                "total": outcome.total_cleared,
                "failed": outcome.failed_labels,
                "duration_ms": outcome.duration_ms,
            },
        )
        return outcome

    async def _record(self, outcome: ClearOutcome, actor_id: int) -> ClearOutcome:
        request = outcome.request
        row = CacheLog(
            cache_type=request.cache_type,
            cleared_items=outcome.cleared_labels,
            total_cleared=outcome.total_cleared,
            failed_items=outcome.failed_labels,
            dry_run=request.dry_run,
            description=request.description,
            cleared_by=actor_id,
            duration_ms=outcome.duration_ms,
        )
        try:
            async with self._sessions() as session:
                session.add(row)
                await session.commit()
        except Exception as exc:
            # The caches are cleared all the same; the client learns the log is missing.
            item = failure(request.cache_type, "CacheLog entry", exc)
            return ClearOutcome(
                request, [*outcome.items, item], outcome.workers_answered, outcome.duration_ms
            )
        return ClearOutcome(
            request, outcome.items, outcome.workers_answered, outcome.duration_ms, row
        )

    # --- MEMORY and the DATABASE pools: every process clears its own -----------------------------
    async def clear_this_worker(self, order: WorkerOrder) -> list[ItemResult]:
        items: list[ItemResult] = []
        if order.memory:
            items += clear_in_process(
                self.registry, order.selection, dry_run=order.dry_run, worker=self.worker
            )
        if order.pool:
            items.append(await clear_pool(self._engine, dry_run=order.dry_run, worker=self.worker))
        return items

    async def _across_workers(self, request: ClearRequest) -> tuple[list[ItemResult], int | None]:
        order = WorkerOrder(
            memory=request.covers(CacheType.MEMORY),
            pool=request.covers(CacheType.DATABASE) and request.selection.is_everything,
            selection=request.selection,
            dry_run=request.dry_run,
        )
        if not (order.memory or order.pool):
            return [], None
        kind = CacheType.MEMORY if order.memory else CacheType.DATABASE
        others = "Other server processes"
        # A dry run says what would happen: nothing "was" cleared.
        was = "would be" if request.dry_run else "was"
        if self._broadcast is None:
            items = await self.clear_this_worker(order)
            why = (
                f"{REDIS_UNSET}, so only this process {was} cleared; with several workers, "
                "configure Redis so that each clears its own"
            )
            return [*items, skipped(kind, others, why)], 1
        answer_or_error, own = await asyncio.gather(
            self._broadcast.request(order), self.clear_this_worker(order), return_exceptions=True
        )
        if isinstance(own, BaseException):
            raise own  # clear_this_worker turns every failure into an item: this is a bug
        if isinstance(answer_or_error, BaseException):
            if not isinstance(answer_or_error, Exception):
                raise answer_or_error
            item = failure(kind, others, answer_or_error)
            detail = f"{item.detail} Only this process {was} cleared."
            return [*own, replace(item, detail=detail)], 1
        answer = answer_or_error
        items = [*own, *(item for replies in answer.replies.values() for item in replies)]
        if answer.missing:
            items.append(
                failed(
                    kind,
                    others,
                    f"{answer.missing} of {answer.reached} did not answer within "
                    f"{self.settings.cache_broadcast_timeout_seconds:g} s; their caches may "
                    "still be there",
                )
            )
        return items, 1 + len(answer.replies)

    # --- the rest: cleared once, from here ----------------------------------------------------
    async def _query_cache(self, request: ClearRequest) -> list[ItemResult]:
        if not request.covers(CacheType.DATABASE) or not request.selection.is_everything:
            return []
        return [await clear_query_cache(self._engine, dry_run=request.dry_run)]

    async def _session(self, request: ClearRequest) -> list[ItemResult]:
        if not request.covers(CacheType.SESSION):
            return []
        settings = self.settings
        items: list[ItemResult] = []
        if settings.session_dir is None:
            items.append(
                skipped(
                    CacheType.SESSION,
                    "Session files",
                    "not configured (LUMBUNG_SESSION_DIR is unset)",
                )
            )
        else:
            target = FolderTarget(CacheType.SESSION, "Session files in", settings.session_dir)
            items += await clear_folders(
                [target], request, self._min_age(request), self._protected()
            )
        if self._redis is None:
            items.append(skipped(CacheType.SESSION, "Session keys in Redis", REDIS_UNSET))
        else:
            items += await clear_redis_prefixes(
                self._redis,
                CacheType.SESSION,
                "Session keys",
                settings.session_redis_prefix,
                request,
                batch=settings.cache_batch_size,
            )
        return items

    async def _files(self, request: ClearRequest) -> list[ItemResult]:
        if not request.covers(CacheType.FILE) or not request.selection.is_everything:
            return []
        folders = self.settings.file_cache_dirs
        if not folders:
            why = "none configured (LUMBUNG_FILE_CACHE_DIRS is empty)"
            return [skipped(CacheType.FILE, "File cache folders", why)]
        targets = [FolderTarget(CacheType.FILE, "Files in", Path(folder)) for folder in folders]
        return await clear_folders(targets, request, self._min_age(request), self._protected())

    async def _redis_keys(self, request: ClearRequest) -> list[ItemResult]:
        if not request.covers(CacheType.REDIS):
            return []
        if self._redis is None:
            why = f"{REDIS_UNSET}; the embedded in-memory cache is cleared by MEMORY"
            return [skipped(CacheType.REDIS, "Redis keys", why)]
        return await clear_redis_prefixes(
            self._redis,
            CacheType.REDIS,
            "Redis keys",
            self.settings.cache_redis_prefix,
            request,
            batch=self.settings.cache_batch_size,
        )

    def _min_age(self, request: ClearRequest) -> int:
        if request.older_than_minutes is not None:
            return request.older_than_minutes
        return self.settings.file_cache_min_age_minutes

    def _protected(self) -> dict[str, Path]:
        """What no cache folder may hold, resolved when the clear runs (links may change)."""
        paths = {
            "Lumbung's data folder": self.settings.data_dir,
            "the backup folder": self.settings.backup_dir,
            "the server's working folder": Path.cwd(),
        }
        url = make_url(self.settings.resolved_database_url())
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            paths["the SQLite database"] = Path(str(url.database))
        return paths
