"""How much room a backup needs, and the refusal when the backup folder's disk lacks it.

The best guide is what the same tables took last time: a recent completed backup's manifest
gives each table's section length, as written, with the same compression. A table without
such history is estimated from the database's own size figures (the adapter's estimate)
and a typical compression ratio, which errs large: InnoDB's pages hold more than the SQL.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.adapters.base import DatabaseAdapter, DumpPlan
from server.backup.files import BackupFolder
from server.backup.manifest import Manifest, read_manifest
from server.backup.plan import BackupRequest, plan_dump
from server.db.enums import BackupType, Compression, JobStatus
from server.db.models import Backup
from server.errors import InsufficientStorage
from server.units import format_bytes

# What a dump compresses to, roughly, without history (zstd -3 gives 2.4x on text).
COMPRESSION_RATIO = {Compression.ZSTD: 0.5, Compression.GZIP: 0.5, Compression.NONE: 1.1}
# What the same tables took last time, times this: tables grow between backups.
HISTORY_MARGIN = 1.25
HEADROOM_BYTES = 16 * 2**20
# How many recent backups are looked at for the tables' last sizes.
HISTORY_DEPTH = 20


@dataclass(frozen=True)
class SpaceEstimate:
    bytes: int  # the file's expected size, margins included (not the headroom)
    from_history: list[str]  # tables sized by what they took last time


async def estimate_file_bytes(
    sessions: async_sessionmaker[AsyncSession],
    folder: BackupFolder,
    adapter: DatabaseAdapter,
    plan: DumpPlan,
    compression: Compression,
    sql_estimate: int,
) -> SpaceEstimate:
    """The size a backup of `plan` is expected to reach on disk."""
    async with sessions() as session:
        recent = (
            await session.scalars(
                select(Backup)
                .where(Backup.status == JobStatus.COMPLETED, Backup.compression == compression)
                .order_by(Backup.created_at.desc(), Backup.id.desc())
                .limit(HISTORY_DEPTH)
            )
        ).all()
    names = [row.filename for row in recent]
    manifests = await asyncio.to_thread(_readable_manifests, folder, names)
    sized = _last_sizes(manifests, plan)
    unknown = [t for t in plan.tables if t not in sized]
    if not sized:
        return SpaceEstimate(int(sql_estimate * COMPRESSION_RATIO[compression]), [])
    rest = await adapter.estimate_bytes(unknown) if unknown else 0
    expected = HISTORY_MARGIN * sum(sized.values()) + rest * COMPRESSION_RATIO[compression]
    return SpaceEstimate(int(expected), sorted(sized))


def _readable_manifests(folder: BackupFolder, names: list[str]) -> list[Manifest]:
    manifests = []
    for name in names:
        try:
            manifests.append(read_manifest(folder.manifest_path(name)))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # gone or damaged: verify says so; here it only cannot guide
    return manifests


def _last_sizes(manifests: list[Manifest], plan: DumpPlan) -> dict[str, int]:
    """Each planned table's length (its sections' together) in the newest manifest that
    dumped it the same way (schema and data as the plan asks), newest first."""
    wanted = set(plan.tables)
    sizes: dict[str, int] = {}
    for manifest in manifests:
        if (manifest.include_schema, manifest.include_data) != (
            plan.include_schema,
            plan.include_data,
        ):
            continue
        for table in manifest.table_sections():
            if table in wanted and table not in sizes:
                sizes[table] = sum(s.length for s in manifest.sections_of(table))
    return sizes


async def require_space(folder: Path, estimate: SpaceEstimate) -> None:
    """Refuse a backup that would not fit on the backup folder's disk."""
    needed = estimate.bytes + HEADROOM_BYTES
    free = await asyncio.to_thread(_free_bytes, folder)
    if free < needed:
        basis = (
            "what the same tables took last time, with a margin"
            if estimate.from_history
            else "the tables' size in the database"
        )
        raise InsufficientStorage(
            f"The backup needs about {format_bytes(needed)} (from {basis}) but the backup "
            f"folder's disk has {format_bytes(free)} free; free space or delete old backups."
        )


async def next_backup_bytes(
    sessions: async_sessionmaker[AsyncSession],
    folder: BackupFolder,
    adapter: DatabaseAdapter,
    compression: Compression,
) -> int:
    """The free space a FULL backup made now would need, headroom included, sized as
    `require_space` sizes it: what the alarms and backupHealth compare the disk with."""
    plan = await plan_dump(BackupRequest(BackupType.FULL), adapter, [])
    sql_estimate = await adapter.estimate_bytes(plan.tables)
    estimate = await estimate_file_bytes(sessions, folder, adapter, plan, compression, sql_estimate)
    return estimate.bytes + HEADROOM_BYTES


def free_bytes(folder: Path) -> int:
    """Free space on the backup folder's disk (blocking: run it in a thread)."""
    return _free_bytes(folder)


def _free_bytes(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(folder).free
