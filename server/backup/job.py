"""The life of a backup, decided here: plan, lock, catalog row, run, outcome.

    start()       check the request (plan.py) and the free space, take the job lock, reserve
                  the file and create its IN_PROGRESS row, then run the job in the background
    write_file()  the data path (pipeline.py: dump -> split -> compress and hash -> [encrypt]
                  -> write), the file renamed into place, the manifest written last: only
                  then COMPLETED
    _finish()     the outcome: the catalog row and the final progress event, recorded together,
                  and a notification when it failed

A restore's safety backup is a backup too: it runs write_file() under the restore's lock and
reports through the restore's progress (server/restore/job.py). It is never encrypted: the
automatic rollback it serves must work with no secret at hand (docs/encryption.md).

A COMPLETED backup's row is written together with the rows its `completion_rows` give (its
offsite copies, PENDING: server/offsite/job.py), in one transaction, so no one ever sees a
completed backup without them; then the `completed_hooks` run (the copies are started).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, Generic, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server import __version__
from server.backup.adapters.base import DatabaseAdapter, DumpPlan
from server.backup.files import BackupFolder
from server.backup.manifest import EncryptionInfo, Manifest, write_manifest
from server.backup.pipeline import BackupPipeline, ByteStage
from server.backup.plan import BackupRequest, checked_description, plan_dump
from server.backup.space import estimate_file_bytes, require_space
from server.backup.stages import ByteSink
from server.db.enums import BackupOrigin, BackupType, Compression, JobStatus, NotificationEvent
from server.db.models import Backup
from server.encryption.age import AgeEncryptor
from server.encryption.keyring import Encryption
from server.errors import public_error
from server.events.bus import ProgressBus
from server.events.tracker import ProgressTracker, Stage
from server.jobs.ids import JobKind, job_id
from server.jobs.lock import JobLock
from server.jobs.runner import JobRunner, record_outcome
from server.notify.service import Notifier
from server.settings import Settings
from server.units import format_bytes

RowT = TypeVar("RowT")
# Called with each backup that has just COMPLETED (its row final, its final event sent).
CompletedHook = Callable[[Backup], Awaitable[None]]
# Rows to write in the same transaction as a backup's COMPLETED row.
CompletionRows = Callable[[Backup], Sequence[object]]
log = logging.getLogger("lumbung.jobs")


@dataclass(frozen=True)
class StartedJob(Generic[RowT]):
    """A job that has started: its catalog row as created, and the task that runs it."""

    row: RowT
    task: asyncio.Task[None]


@dataclass(frozen=True)
class NewBackup:
    """What a backup's catalog row records before it runs."""

    kind: str  # the file name's kind: full, partial, selective or safety
    backup_type: BackupType
    tables: list[str]
    include_schema: bool
    include_data: bool
    description: str | None
    compression: Compression
    actor: int
    origin: BackupOrigin
    schedule_id: int | None = None


def backup_stages(estimate: int) -> list[Stage]:
    """A backup's phases and their shares of the work: the dump is nearly all of it; writing
    out is the final fsync and the manifest."""
    return [("dumping", max(estimate, 1)), ("writing", max(estimate, 1) * 0.02)]


@dataclass(frozen=True)
class Written:
    """A backup file made durable, as its completed row records it."""

    file_size: int
    checksum: str
    tables: list[str]
    completed_at: datetime
    evidence: dict[str, object] | None  # server/backup/evidence.py, for the catalog


class BackupJobs:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        adapter: DatabaseAdapter,
        folder: BackupFolder,
        bus: ProgressBus,
        runner: JobRunner,
        lock: JobLock,
        notifier: Notifier,
        encryption: Encryption,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._settings = settings
        self._encryption = encryption
        self.completed_hooks: list[CompletedHook] = []
        self.completion_rows: list[CompletionRows] = []
        # When a backup is made, for its name and its row: a test's clock walks the schedules
        # through months, and rotation sorts by it.
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sessions = sessions
        self._adapter = adapter
        self._folder = folder
        self._bus = bus
        self._runner = runner
        self._lock = lock
        self._notifier = notifier

    # --- plan, lock, row ---------------------------------------------------------------------
    async def start(
        self,
        request: BackupRequest,
        actor: int,
        *,
        origin: BackupOrigin = BackupOrigin.MANUAL,
        schedule_id: int | None = None,
        lock_wait: float = 0.0,
    ) -> StartedJob[Backup]:
        """Check, lock, create the IN_PROGRESS row and start the job; returns at once. With
        `lock_wait`, wait up to that many seconds for a running job instead of refusing."""
        description = checked_description(request.description)
        plan = await plan_dump(request, self._adapter, self._settings.core_tables)
        compression = request.compression or Compression(self._settings.backup_compression)
        # One estimate serves the free-space check and the progress total.
        estimate = await self._adapter.estimate_bytes(plan.tables)
        await require_space(
            self._folder.root,
            await estimate_file_bytes(
                self._sessions, self._folder, self._adapter, plan, compression, estimate
            ),
        )
        lock = await (self._lock.acquire_within(lock_wait) if lock_wait else self._lock.acquire())
        try:
            row, handle = await self.open_file(
                NewBackup(
                    kind=request.backup_type.value,
                    backup_type=request.backup_type,
                    tables=plan.tables,
                    include_schema=request.include_schema,
                    include_data=request.include_data,
                    description=description,
                    compression=compression,
                    actor=actor,
                    origin=origin,
                    schedule_id=schedule_id,
                )
            )
        except BaseException:
            await lock.aclose()
            raise
        job = job_id(JobKind.BACKUP, row.id)
        tracker = ProgressTracker(
            self._bus,
            asyncio.get_running_loop(),
            job,
            tables_total=len(plan.tables),
            bytes_total=estimate or None,
            stages=backup_stages(estimate),
        )
        tracker.phase("queued", f"Backup {row.filename} queued")

        async def work(cancel: threading.Event) -> None:
            await self._run(row, plan, handle, tracker, cancel)

        return StartedJob(row, self._runner.spawn(job, lock, work))

    async def open_file(self, new: NewBackup) -> tuple[Backup, BinaryIO]:
        """Reserve a file name (its `.partial` file, open for writing) and create the backup's
        IN_PROGRESS row. The caller holds the job lock."""
        now = self._clock()
        name, handle = self._folder.reserve(new.kind, new.compression.value, now)
        try:
            row = Backup(
                filename=name,
                backup_type=new.backup_type,
                tables=new.tables,
                include_data=new.include_data,
                include_schema=new.include_schema,
                description=new.description,
                file_size=0,
                status=JobStatus.IN_PROGRESS,
                created_by=new.actor,
                compression=new.compression,
                origin=new.origin,
                # Safety backups stay plaintext: an automatic rollback needs no secret.
                encrypted=self._encryption.enabled and new.origin is not BackupOrigin.SAFETY,
                recipients=self._encryption.recipient_names()
                if self._encryption.enabled and new.origin is not BackupOrigin.SAFETY
                else [],
                schedule_id=new.schedule_id,
                created_at=now,
                updated_at=now,
            )
            async with self._sessions() as session:
                session.add(row)
                await session.commit()
        except BaseException:
            handle.close()
            self._folder.remove(name)
            raise
        return row, handle

    # --- run -----------------------------------------------------------------------------------
    async def _run(
        self,
        row: Backup,
        plan: DumpPlan,
        handle: BinaryIO,
        tracker: ProgressTracker,
        cancel: threading.Event,
    ) -> None:
        try:
            await self.write_file(row, plan, handle, tracker, cancel, final_event=True)
        except Exception:
            return  # recorded, row and final event: a background job has no one to raise to

    async def write_file(
        self,
        row: Backup,
        plan: DumpPlan,
        handle: BinaryIO,
        tracker: ProgressTracker,
        cancel: threading.Event,
        *,
        final_event: bool = False,
        estimate: int | None = None,
    ) -> Backup:
        """Dump into the reserved `.partial` file, then make it durable: the file renamed into
        place, the manifest written last; only then is the row COMPLETED. On any failure the
        row is FAILED with the public reason, no file is left behind, and that reason is
        raised. With `final_event`, the tracker's final event goes out with the outcome.
        `estimate` is the dump's SQL bytes when the tracker does not hold it already."""
        started = time.monotonic()
        try:
            written = await self._dump(row, plan, handle, tracker, cancel, estimate)
        except BaseException as exc:
            # Closing flushes what the file still buffers: on a full disk that fails again,
            # and must not keep the row from being marked FAILED (the file goes anyway).
            with contextlib.suppress(OSError):
                handle.close()
            await asyncio.to_thread(self._folder.remove, row.filename)
            failure = public_error(exc)
            await self._finish(
                row,
                tracker if final_event else None,
                JobStatus.FAILED,
                failure.message,
                error_message=failure.message,
                file_size=0,
                duration_ms=int((time.monotonic() - started) * 1000),
                completed_at=datetime.now(UTC),
            )
            if not isinstance(exc, Exception):
                raise  # a cancellation stays one
            raise failure from exc
        await self._finish(
            row,
            tracker if final_event else None,
            JobStatus.COMPLETED,
            f"Backup {row.filename} completed ({format_bytes(written.file_size)}).",
            file_size=written.file_size,
            checksum=written.checksum,
            tables=written.tables,
            completed_at=written.completed_at,
            evidence=written.evidence,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        for hook in self.completed_hooks:
            try:
                await hook(row)
            except Exception:
                # The backup is done and recorded: what follows it never undoes that.
                log.exception(
                    "a hook after a completed backup failed",
                    extra={"event": "backup.hook_failed", "backup": row.id},
                )
        return row

    async def _dump(
        self,
        row: Backup,
        plan: DumpPlan,
        handle: BinaryIO,
        tracker: ProgressTracker,
        cancel: threading.Event,
        estimate: int | None,
    ) -> Written:
        """The data path, then the file and its manifest made durable."""
        engine_name, version = await self._adapter.server_version()
        tracker.phase(
            "dumping",
            f"Dumping {len(plan.tables)} table(s)",
            bytes_total=-1 if estimate is None else estimate or None,
        )
        encryptor: list[AgeEncryptor] = []

        def encrypt(sink: ByteSink) -> ByteSink:
            encryptor.append(self._encryption.stage(sink))
            return encryptor[0]

        stages: list[ByteStage] = [encrypt] if row.encrypted else []
        # Built in a thread: a passphrase's scrypt, in the encryption stage, takes a second.
        pipeline = await asyncio.to_thread(
            functools.partial(
                BackupPipeline,
                handle,
                row.compression.value,
                level=self._settings.zstd_level,
                threads=self._settings.zstd_threads,
                byte_stages=stages,
            )
        )
        dumped = await asyncio.to_thread(
            functools.partial(
                self._adapter.dump,
                plan,
                pipeline.framer,
                tracker.advance,
                cancel,
                evidence=self._settings.backup_evidence,
            )
        )
        tool, rows = dumped.tool, dumped.rows
        tracker.phase("writing", "Writing the file and its manifest", keep_bytes=True)
        sha256 = await asyncio.to_thread(pipeline.close)
        handle.close()
        await asyncio.to_thread(self._folder.finish, row.filename)
        for section in pipeline.sections:
            if section.kind == "table" and section.table is not None and plan.include_data:
                section.rows = rows.get(section.table, 0)
        completed = max(self._clock(), row.created_at)
        manifest = Manifest(
            file=row.filename,
            size=pipeline.file.size,
            sha256=sha256,
            compression=row.compression.value,
            backup_type=row.backup_type.value,
            include_schema=row.include_schema,
            include_data=row.include_data,
            tables=[s.table for s in pipeline.sections if s.kind == "table" and s.table],
            description=row.description,
            database={"engine": engine_name, "version": version, "dialect": self._adapter.dialect},
            tool={"name": tool.name, "version": tool.version},
            lumbung_version=__version__,
            created_at=row.created_at.isoformat(),
            completed_at=completed.isoformat(),
            sections=pipeline.sections,
            evidence=dumped.evidence,
            encryption=EncryptionInfo(list(row.recipients), encryptor[0].plaintext_size)
            if encryptor
            else None,
            dump=None if dumped.mode is None else dumped.mode.to_json(),
        )
        await asyncio.to_thread(write_manifest, self._folder.manifest_path(row.filename), manifest)
        return Written(
            pipeline.file.size,
            sha256,
            manifest.tables,
            completed,
            None if dumped.evidence is None else dumped.evidence.to_json(),
        )

    # --- outcome -------------------------------------------------------------------------------
    async def _finish(
        self,
        row: Backup,
        tracker: ProgressTracker | None,
        status: JobStatus,
        message: str,
        **values: object,
    ) -> None:
        """Record the outcome in the catalog (retrying while the database is away), then send
        the final event: a follower that sees the end finds the row already final."""
        job = job_id(JobKind.BACKUP, row.id)
        rows = self.completion_rows if status is JobStatus.COMPLETED else []
        await record_outcome(
            functools.partial(self._update_row, row, rows, status=status, **values), job
        )
        row.status = status
        for key, value in values.items():
            setattr(row, key, value)
        if tracker is not None:
            tracker.finish(status, message)
        # A safety backup's failure is its restore's, which says so itself.
        if status is JobStatus.FAILED and row.origin is not BackupOrigin.SAFETY:
            self._notifier.notify(
                NotificationEvent.BACKUP_FAILED,
                f"Backup #{row.id} failed",
                f"Backup {row.filename} ({row.backup_type.value}) failed: {message}",
                {"backupId": row.id, "filename": row.filename, "error": message},
            )

    async def _update_row(
        self, row: Backup, extra: Sequence[CompletionRows], **values: object
    ) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(Backup)
                .where(Backup.id == row.id)
                .values(updated_at=datetime.now(UTC), **values)
            )
            for make in extra:
                session.add_all(make(row))
            await session.commit()
