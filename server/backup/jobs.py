"""Background jobs: one backup or restore at a time per database, under the engine's lock,
each followed by progress events and recorded in the catalog however it ends."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server import __version__
from server.backup.engine import BackupEngine, DumpPlan
from server.backup.files import BackupFolder
from server.backup.manifest import Manifest, write_manifest
from server.backup.sections import SectionWriter
from server.db.models import Backup, BackupOrigin, JobStatus, RestoreLog
from server.errors import Conflict, LumbungError
from server.events.bus import ProgressBus
from server.events.progress import ProgressTracker
from server.settings import Settings
from server.system.tables import LUMBUNG_TABLES

log = logging.getLogger("lumbung.jobs")

INTERRUPTED = "Interrupted: the process running this job stopped before it finished."
# The description of the restore that puts an interrupted restore's tables back (at a start).
ROLLBACK_DESCRIPTION = "Automatic rollback of interrupted restore #{id}"
SHUTDOWN = "Interrupted: the server shut down while this job ran."
RECORD_RETRY_SECONDS = 60.0
# How long a new job waits for a lock whose holder has nothing IN_PROGRESS (it is finishing).
LOCK_RELEASE_GRACE = 3.0
LOCK_RETRY_SECONDS = 0.05


@dataclass(frozen=True)
class InterruptedRestore:
    """A restore that a dead process left IN_PROGRESS, and the safety backup it had taken."""

    log_id: int
    safety: Backup


def public_message(exc: BaseException) -> str:
    """What the catalog and the client are told about a failure (never a password: the
    tools' own messages name users and hosts at most)."""
    if isinstance(exc, LumbungError):
        return exc.message
    if isinstance(exc, asyncio.CancelledError):
        return SHUTDOWN
    return f"{type(exc).__name__}: {exc}"[:2000]


class JobRunner:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        engine: BackupEngine,
        bus: ProgressBus,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.engine = engine
        self.bus = bus
        self.folder = BackupFolder(settings.backup_dir)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.cancels: dict[str, threading.Event] = {}

    @property
    def catalog_tables(self) -> list[str]:
        """Lumbung's own tables: never overwritten by a restore, left out of a FULL dump."""
        return sorted(LUMBUNG_TABLES)

    # --- the lock ------------------------------------------------------------------------------
    async def running_job(self) -> str | None:
        """What the catalog says is running, or None when no job is IN_PROGRESS."""
        async with self.sessions() as session:
            backup = (
                await session.scalars(
                    select(Backup).where(Backup.status == JobStatus.IN_PROGRESS.value)
                )
            ).first()
            restore = (
                await session.scalars(
                    select(RestoreLog).where(RestoreLog.status == JobStatus.IN_PROGRESS.value)
                )
            ).first()
        if restore is not None:
            return f"restore #{restore.id} of backup #{restore.backup_id} is running"
        if backup is not None:
            return f"backup #{backup.id} ({backup.filename}) is running"
        return None

    async def acquire(self) -> AsyncExitStack:
        """Take the database's job lock, or raise Conflict naming the job that holds it.

        A job records its end (catalog row, final event) before it lets go of the lock, so a
        client that starts the next job the moment it sees the last one end can find the lock
        still held with nothing IN_PROGRESS. Then the holder is finishing (or recovering after
        a restart): wait for it, up to LOCK_RELEASE_GRACE seconds, instead of refusing."""
        deadline = time.monotonic() + LOCK_RELEASE_GRACE
        while True:
            stack = AsyncExitStack()
            try:
                await stack.enter_async_context(self.engine.job_lock())
            except Conflict:
                await stack.aclose()
                running = await self.running_job()
                if running is None and time.monotonic() < deadline:
                    await asyncio.sleep(LOCK_RETRY_SECONDS)
                    continue
                raise Conflict(
                    f"Not started: {running or 'another backup or restore is running'}. One "
                    "backup or restore runs at a time; wait for it to finish (follow it with its "
                    "progress subscription)."
                ) from None
            return stack

    # --- running -------------------------------------------------------------------------------
    def spawn(
        self, job_id: str, lock: AsyncExitStack, work: Callable[[threading.Event], Awaitable[None]]
    ) -> asyncio.Task[None]:
        cancel = threading.Event()

        async def run() -> None:
            try:
                await work(cancel)
            finally:
                self.tasks.pop(job_id, None)
                self.cancels.pop(job_id, None)
                try:
                    await lock.aclose()
                except Exception:
                    # The lock's connection is gone (the server restarted): so is the lock.
                    log.warning(
                        "job lock already lost", extra={"event": "jobs.lock_lost", "job": job_id}
                    )

        task = asyncio.create_task(run(), name=f"lumbung-{job_id}")
        self.tasks[job_id] = task
        self.cancels[job_id] = cancel
        return task

    async def shutdown(self) -> None:
        """Stop running jobs: they record themselves FAILED (interrupted) and clean up."""
        for cancel in self.cancels.values():
            cancel.set()
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def new_backup_row(self, row: Backup) -> Backup:
        async with self.sessions() as session:
            session.add(row)
            await session.commit()
            return row

    async def update_backup(self, backup_id: int, **values: object) -> None:
        async with self.sessions() as session:
            await session.execute(
                update(Backup)
                .where(Backup.id == backup_id)
                .values(updated_at=datetime.now(UTC), **values)
            )
            await session.commit()

    async def record(self, what: Callable[[], Awaitable[None]], job: str) -> None:
        """Write a job's outcome to the catalog, retrying while the database is away (it may
        be the very server that just failed the job). After RECORD_RETRY_SECONDS the row is
        left IN_PROGRESS for the next start's recovery to mark as interrupted."""
        deadline = time.monotonic() + RECORD_RETRY_SECONDS
        delay = 0.2
        while True:
            try:
                await what()
                return
            except Exception:
                if time.monotonic() > deadline:
                    log.error(
                        "could not record a job's outcome",
                        exc_info=True,
                        extra={"event": "jobs.record_failed", "job": job},
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def dump_backup(
        self,
        row: Backup,
        plan: DumpPlan,
        tracker: ProgressTracker,
        cancel: threading.Event,
        handle: BinaryIO,
    ) -> Backup:
        """Dump into the reserved `.partial` file, then make it durable: the file renamed into
        place, the manifest written last; only then is the row COMPLETED. On any failure the
        row is FAILED with the reason and no file is left behind. Raises what failed."""
        started = time.monotonic()
        try:
            version = await self.engine.server_version()
            tracker.phase("dumping", f"Dumping {len(plan.tables)} table(s)")
            writer = SectionWriter(
                handle,
                row.compression,
                level=self.settings.zstd_level,
                threads=self.settings.zstd_threads,
            )
            tool, rows = await asyncio.to_thread(
                self.engine.dump, plan, writer, tracker.advance, cancel
            )
            tracker.phase("writing", "Writing the file and its manifest")
            sha256 = await asyncio.to_thread(writer.close)
            handle.close()
            await asyncio.to_thread(self.folder.finish, row.filename)
            for section in writer.sections:
                if section.kind == "table" and section.table is not None and plan.include_data:
                    section.rows = rows.get(section.table, 0)
            completed = datetime.now(UTC)
            manifest = Manifest(
                file=row.filename,
                size=writer.size,
                sha256=sha256,
                compression=row.compression,
                backup_type=row.backup_type,
                include_schema=row.include_schema,
                include_data=row.include_data,
                tables=[s.table for s in writer.sections if s.kind == "table" and s.table],
                description=row.description,
                database={
                    "engine": version[0],
                    "version": version[1],
                    "dialect": self.engine.dialect,
                },
                tool={"name": tool.name, "version": tool.version},
                lumbung_version=__version__,
                created_at=row.created_at.isoformat(),
                completed_at=completed.isoformat(),
                sections=writer.sections,
            )
            await asyncio.to_thread(
                write_manifest, self.folder.manifest_path(row.filename), manifest
            )
            values = {
                "status": JobStatus.COMPLETED.value,
                "file_size": writer.size,
                "checksum": sha256,
                "tables": manifest.tables,
                "completed_at": completed,
                "duration_ms": int((time.monotonic() - started) * 1000),
            }
            await self.update_backup(row.id, **values)
            for key, value in values.items():
                setattr(row, key, value)
            return row
        except BaseException as exc:
            # Closing flushes what the file still buffers: on a full disk that fails again,
            # and must not keep the row from being marked FAILED (the file goes anyway).
            with contextlib.suppress(OSError):
                handle.close()
            await asyncio.to_thread(self.folder.remove, row.filename)
            failed = functools.partial(
                self.update_backup,
                row.id,
                status=JobStatus.FAILED.value,
                error_message=public_message(exc),
                file_size=0,
                duration_ms=int((time.monotonic() - started) * 1000),
                completed_at=datetime.now(UTC),
            )
            await asyncio.shield(self.record(failed, f"backup:{row.id}"))
            raise

    # --- after a crash ---------------------------------------------------------------------------
    async def recover_interrupted(self) -> list[InterruptedRestore]:
        """Jobs left IN_PROGRESS by a process that died become FAILED, and their partial files
        go. Only done while holding the job lock: then no job can be running anywhere.

        A restore may have been cut off halfway. Tables it created go now (they did not exist
        before it); the restores returned are those to roll back from their safety backup."""
        try:
            lock = await self.acquire()
        except Conflict:
            return []  # a job is running in another process: its rows are alive
        rollbacks: list[InterruptedRestore] = []
        async with lock, self.sessions() as session:
            stale = (
                await session.scalars(
                    select(Backup).where(Backup.status == JobStatus.IN_PROGRESS.value)
                )
            ).all()
            now = datetime.now(UTC)
            for backup in stale:
                self.folder.remove(backup.filename)
                backup.status = JobStatus.FAILED.value
                backup.error_message = INTERRUPTED
                backup.completed_at = now
                backup.file_size = 0
            restores = (
                await session.scalars(
                    select(RestoreLog).where(RestoreLog.status == JobStatus.IN_PROGRESS.value)
                )
            ).all()
            for restore in restores:
                restore.status = JobStatus.FAILED.value
                restore.completed_at = now
                rollback_of = await self._rolled_back_from(session, restore)
                safety = rollback_of or (
                    await session.get(Backup, restore.safety_backup_id)
                    if restore.safety_backup_id is not None
                    else None
                )
                if safety is not None and safety.status != JobStatus.COMPLETED.value:
                    safety = None  # it never finished: there is nothing to roll back from
                restore.error_message = await self._after_interruption(
                    restore, safety, again=rollback_of is not None
                )
                if self.engine.dialect != "sqlite" and safety is not None:
                    rollbacks.append(InterruptedRestore(restore.id, safety))
            await session.commit()
            for partial in self.folder.root.glob("backup_*.partial"):
                partial.unlink(missing_ok=True)
        count = len(stale) + len(restores)
        if count:
            log.warning(
                "marked interrupted jobs as failed",
                extra={"event": "jobs.recovered", "count": count},
            )
        return rollbacks

    @staticmethod
    async def _rolled_back_from(session: AsyncSession, restore: RestoreLog) -> Backup | None:
        """When `restore` is an automatic rollback (started at a start, by nobody, from a
        safety backup), the safety backup it was putting back."""
        if restore.restored_by != 0 or not (restore.description or "").startswith(
            ROLLBACK_DESCRIPTION.format(id="")
        ):
            return None
        source = await session.get(Backup, restore.backup_id)
        return source if source is not None and source.origin == BackupOrigin.SAFETY.value else None

    async def _after_interruption(
        self, restore: RestoreLog, safety: Backup | None, *, again: bool
    ) -> str:
        """What an interrupted restore's log says, having dropped the tables it created.
        `safety` is the completed safety backup to roll back from, if any."""
        if self.engine.dialect == "sqlite":
            return f"{INTERRUPTED} It ran in one transaction: nothing was changed."
        if again and safety is not None:
            return (
                f"{INTERRUPTED} It was putting tables back from safety backup #{safety.id} "
                f"({safety.filename}): that starts again."
            )
        tables = list(restore.tables or [])
        if safety is None:
            return (
                f"{INTERRUPTED} No safety backup of it was completed: if it had begun writing, "
                f"these tables may be partly restored: {', '.join(tables) or 'none'}."
            )
        created = [t for t in tables if t not in (safety.tables or [])]
        await self.engine.drop_tables(created)
        return (
            f"{INTERRUPTED} Its tables may have been partly restored: they are put back from "
            f"safety backup #{safety.id} ({safety.filename})"
            + (
                f", and {', '.join(created)}, which it had created, were dropped."
                if created
                else "."
            )
        )
