"""Row factories for the catalog (the mutations that create these rows are later issues')."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from server.db.models import Backup, CacheLog, RestoreLog
from server.resources import Resources

EPOCH = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def backup_row(n: int, **overrides: Any) -> Backup:
    created = EPOCH + timedelta(minutes=n)
    values: dict[str, Any] = {
        "filename": f"backup_full_{created:%Y-%m-%dT%H-%M-%S}.sql.zst",
        "backup_type": "full",
        "tables": ["User", "Role", "Permission", "Message"],
        "include_data": True,
        "include_schema": True,
        "description": f"backup {n}",
        "file_size": 2048576 + n,
        "status": "completed",
        "created_at": created,
        "updated_at": created,
        "completed_at": created + timedelta(seconds=3),
        "created_by": 1 + n % 3,
        "checksum": f"{n:064x}",
        "compression": "zstd",
        "duration_ms": 3000,
        "origin": "manual",
    }
    values.update(overrides)
    return Backup(**values)


async def add_backups(resources: Resources, count: int, **overrides: Any) -> list[int]:
    async with resources.sessions() as session:
        rows = [backup_row(n, **overrides) for n in range(count)]
        session.add_all(rows)
        await session.commit()
        return [row.id for row in rows]


async def add_restore_logs(
    resources: Resources, backup_id: int, count: int, **overrides: Any
) -> list[int]:
    async with resources.sessions() as session:
        rows = [
            RestoreLog(
                **{
                    "backup_id": backup_id,
                    "status": "completed",
                    "created_at": EPOCH + timedelta(hours=1, minutes=n),
                    "completed_at": EPOCH + timedelta(hours=1, minutes=n, seconds=9),
                    "restored_by": 2,
                    "duration_ms": 9000,
                    **overrides,
                }
            )
            for n in range(count)
        ]
        session.add_all(rows)
        await session.commit()
        return [row.id for row in rows]


async def add_cache_logs(resources: Resources, count: int, **overrides: Any) -> list[int]:
    async with resources.sessions() as session:
        rows = [
            CacheLog(
                **{
                    "cache_type": "database" if n % 2 else "redis",
                    "cleared_items": ["Database connection pool"],
                    "total_cleared": 1,
                    "created_at": EPOCH + timedelta(minutes=n),
                    "cleared_by": 1,
                    "duration_ms": 12,
                    **overrides,
                }
            )
            for n in range(count)
        ]
        session.add_all(rows)
        await session.commit()
        return [row.id for row in rows]
