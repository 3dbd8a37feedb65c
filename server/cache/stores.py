"""The stores cleared once per request, from the process that took it: Redis prefixes (REDIS,
SESSION) and folders (FILE, SESSION). Each prefix and each folder is one item."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from server.cache.files import FolderReport, clear_folder, holds
from server.cache.keys import KeyMatch
from server.cache.redis_keys import ClearInterrupted, RedisKeyClearer
from server.cache.request import ClearRequest
from server.cache.results import ItemResult, done, failed, failure, skipped
from server.db.enums import CacheType
from server.errors import ErrorCode
from server.units import format_bytes


async def clear_redis_prefixes(
    redis: Redis,
    cache_type: CacheType,
    kind: str,
    prefixes: list[str],
    request: ClearRequest,
    *,
    batch: int,
) -> list[ItemResult]:
    clearer = RedisKeyClearer(redis, batch=batch)
    items = []
    for prefix in prefixes:
        name = f"{kind} {_shown(prefix, request)}"
        try:
            count = await clearer.clear(prefix, request.selection, dry_run=request.dry_run)
        except ClearInterrupted as exc:
            cause = exc.__cause__ or exc
            item = failure(cache_type, name, cause)
            detail = f"{item.detail} {exc.removed} keys were removed before it failed."
            code = item.code or ErrorCode.INTERNAL
            items.append(failed(cache_type, name, detail, code, count=exc.removed))
            continue
        except Exception as exc:
            items.append(failure(cache_type, name, exc))
            continue
        items.append(done(cache_type, name, count, dry_run=request.dry_run))
    return items


def _shown(prefix: str, request: ClearRequest) -> str:
    """`cache:*`, `cache:user:1, cache:user:2`, `cache:report:*` as an admin reads them."""
    selection = request.selection
    if selection.is_everything:
        return prefix + "*"
    shown = [prefix + key for key in selection.keys[:3]]
    more = f" and {len(selection.keys) - 3} more" if len(selection.keys) > 3 else ""
    exact = " (exact)" if selection.match is KeyMatch.EXACT else ""
    return ", ".join(shown) + more + exact


@dataclass(frozen=True)
class FolderTarget:
    cache_type: CacheType
    kind: str  # "Files in", "Session files in"
    folder: Path

    @property
    def name(self) -> str:
        return f"{self.kind} {self.folder}"


async def clear_folders(
    targets: list[FolderTarget],
    request: ClearRequest,
    min_age_minutes: int,
    protected: dict[str, Path],
) -> list[ItemResult]:
    items = []
    for target in targets:
        items.append(await _clear_one(target, request, min_age_minutes, protected))
    return items


async def _clear_one(
    target: FolderTarget, request: ClearRequest, min_age_minutes: int, protected: dict[str, Path]
) -> ItemResult:
    kind, name = target.cache_type, target.name
    for what, path in protected.items():
        if holds(target.folder, path):
            why = f"refused: it holds {what} ({path}); point it at a folder of its own"
            return failed(kind, name, why, ErrorCode.FORBIDDEN)
    name_filter = None
    if not request.selection.is_everything:
        # Session files are named after their session: the keys pick file names.
        matcher = request.selection.matcher()

        def name_filter(file_name: str) -> bool:
            return matcher.fullmatch(file_name) is not None

    try:
        report = await asyncio.to_thread(
            clear_folder,
            target.folder,
            min_age_seconds=min_age_minutes * 60,
            name_filter=name_filter,
            dry_run=request.dry_run,
        )
    except NotADirectoryError:
        why = "it is not a folder: check the setting that names it"
        return failed(kind, name, why, ErrorCode.INTERNAL)
    except Exception as exc:
        return failure(kind, name, exc)
    if not report.exists:
        return skipped(kind, name, "the folder does not exist: nothing to clear")
    return _folder_item(kind, name, report, request.dry_run)


def _folder_item(kind: CacheType, name: str, report: FolderReport, dry_run: bool) -> ItemResult:
    size = format_bytes(report.removed_bytes)
    notes = [note for note in (report.kept,) if note]
    if report.error_count:
        errors = "; ".join(report.errors)
        why = (
            f"{report.error_count} files could not be removed ({errors}); "
            f"{report.removed} files ({size}) were"
        )
        code = ErrorCode.FORBIDDEN if report.only_permission_errors else ErrorCode.INTERNAL
        return failed(kind, name, why, code, count=report.removed)
    item = done(kind, name, report.removed, dry_run=dry_run)
    detail = "; ".join([size, *notes])
    return ItemResult(item.cache_type, item.name, item.status, item.count, detail)
