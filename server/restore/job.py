"""The life of a restore, decided here: plan, lock, catalog row, run, outcome.

start()     the confirmation, the lock, the whole file verified against its manifest, the
            tables chosen (plan.py), the definers allowed, the IN_PROGRESS restore log
_run()      a safety backup of what is about to be overwritten (a backup job's file, made
            under this restore's lock), the file verified again, then its sections fed to
            the database through the adapter
_roll_back  on failure, the live tables put back from the safety backup (SQLite needs
            none: its restore is one transaction)
_finish()   the outcome: the restore log and the final progress event, recorded together,
            and a notification either way
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.adapters.base import DatabaseAdapter, DumpPlan, SchemaObject
from server.backup.files import BackupFolder
from server.backup.history import get_backup
from server.backup.job import BackupJobs, NewBackup, StartedJob, backup_stages
from server.backup.manifest import read_manifest
from server.backup.plan import CATALOG_TABLES, checked_description
from server.backup.verify import OpenKeys, require_intact, verify_file
from server.db.enums import BackupOrigin, BackupType, JobStatus, NotificationEvent
from server.db.models import Backup, RestoreLog
from server.encryption.keyring import Encryption, Keyring
from server.errors import BadUserInput, Conflict, public_error
from server.events.bus import ProgressBus
from server.events.tracker import ProgressTracker, Stage
from server.jobs.ids import JobKind, job_id
from server.jobs.lock import JobLock
from server.jobs.runner import JobRunner, record_outcome
from server.notify.service import Notifier
from server.offsite.fetch import RemoteBackups
from server.restore.plan import (
    RestorePlan,
    created_by_restore,
    plan_restore,
    require_definers_allowed,
    restore_bytes,
    restore_script,
)
from server.settings import Settings

# What a byte costs each phase, against dumping it (see RestoreJobs._stages).
RESTORE_COST = 6.0
VERIFY_COST = 0.1


class RestoreJobs:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        adapter: DatabaseAdapter,
        folder: BackupFolder,
        bus: ProgressBus,
        runner: JobRunner,
        lock: JobLock,
        backups: BackupJobs,
        notifier: Notifier,
        encryption: Encryption,
        remote: RemoteBackups,
    ) -> None:
        self._encryption = encryption
        self._remote = remote
        self._settings = settings
        self._sessions = sessions
        self._adapter = adapter
        self._folder = folder
        self._bus = bus
        self._runner = runner
        self._lock = lock
        self._backups = backups
        self._notifier = notifier

    # --- plan, lock, row ---------------------------------------------------------------------
    async def start(
        self,
        backup_id: int,
        *,
        confirm: str,
        tables: list[str] | None = None,
        safety_backup: bool | None = None,
        description: str | None = None,
        actor: int,
        keyring: Keyring | None = None,
    ) -> StartedJob[RestoreLog]:
        """Check the confirmation, verify the whole file, lock, and start the restore; returns
        once the file is verified, with the restore IN_PROGRESS. A file gone from the folder is
        fetched from an offsite copy first; an encrypted one is opened with `keyring` (the
        request's) or the settings' identity, and refused, untouched, without one."""
        description = checked_description(description)
        async with self._sessions() as session:
            backup = await get_backup(session, backup_id)
        if confirm != backup.filename:
            raise BadUserInput(
                "To restore, `confirm` must repeat the backup's filename exactly: "
                f"{backup.filename}"
            )
        if backup.status is not JobStatus.COMPLETED:
            raise Conflict(
                f"Backup #{backup.id} is {backup.status.value}; only a completed backup can be "
                "restored."
            )
        if backup.encrypted:
            keyring = await asyncio.to_thread(
                self._encryption.keyring,
                keyring,
                f"backup {backup.filename}",
                backup.recipients,
            )
        await self._remote.ensure_local(backup)
        lock = await self._lock.acquire()
        try:
            # Verified before anything is touched: a damaged file is refused here.
            verification = await asyncio.to_thread(
                verify_file, self._folder, backup.filename, backup.checksum, _keys(keyring)
            )
            manifest = require_intact(verification, backup.filename)
            plan = plan_restore(
                backup,
                manifest,
                tables,
                safety_backup=self._settings.safety_backup
                if safety_backup is None
                else safety_backup,
            )
            plan = dataclasses.replace(plan, keyring=keyring)
            await require_definers_allowed(
                self._adapter,
                manifest,
                plan.tables,
                everything=plan.everything,
                rollback=plan.safety_backup,
            )
            log = RestoreLog(
                backup_id=backup.id,
                status=JobStatus.IN_PROGRESS,
                description=description,
                restored_by=actor,
                tables=plan.tables,
            )
            async with self._sessions() as session:
                session.add(log)
                await session.commit()
        except BaseException:
            await lock.aclose()
            raise
        job = job_id(JobKind.RESTORE, log.id)
        tracker = ProgressTracker(
            self._bus,
            asyncio.get_running_loop(),
            job,
            tables_total=len(plan.tables),
            bytes_total=None,
            stages=await self._stages(plan),
        )
        tracker.phase("queued", f"Restore of {backup.filename} queued")

        async def work(cancel: threading.Event) -> None:
            await self._run(plan, log, tracker, cancel)

        return StartedJob(log, self._runner.spawn(job, lock, work))

    async def _stages(self, plan: RestorePlan) -> list[Stage]:
        """The restore's phases and their shares of the work, from what each will move:
        the safety backup's dump, the verification's read, the restore's SQL. Restoring a
        byte costs the database about six times what dumping it does, and hashing it a
        tenth (bench/RESULTS.md and ../BASELINES: 46 s, 7.3 s and ~1 s per GB)."""
        restoring = ("restoring", RESTORE_COST * restore_bytes(plan))
        if not plan.safety_backup:
            return [restoring]
        safety = await self._adapter.estimate_bytes(await self._overwritten_tables(plan))
        return [
            *backup_stages(safety),
            ("verifying", VERIFY_COST * (plan.backup.file_size or 0)),
            restoring,
        ]

    async def _overwritten_tables(self, plan: RestorePlan) -> list[str]:
        """The live tables the restore overwrites: what its safety backup holds."""
        live = set(await self._adapter.table_names())
        return [t for t in plan.tables if t in live]

    # --- run -----------------------------------------------------------------------------------
    async def _run(
        self, plan: RestorePlan, log: RestoreLog, tracker: ProgressTracker, cancel: threading.Event
    ) -> None:
        started = time.monotonic()
        safety: Backup | None = None
        status, message = JobStatus.FAILED, None
        try:
            if plan.safety_backup:
                tracker.phase("safety-backup", "Backing up the tables about to be overwritten")
                safety = await self._take_safety_backup(plan, log.restored_by, tracker, cancel)
                if safety is not None:
                    await self._update_log(log.id, safety_backup_id=safety.id)
                # The safety backup took time: check the file again right before using it.
                tracker.phase("verifying", "Verifying the backup file")
                verification = await asyncio.to_thread(
                    verify_file,
                    self._folder,
                    plan.backup.filename,
                    plan.backup.checksum,
                    _keys(plan.keyring),
                )
                require_intact(verification, plan.backup.filename)
            # What exists before the first statement: a rollback drops what the restore adds.
            before = await self._adapter.schema_objects()
            if plan.safety_backup:  # a rollback is promised, even after a crash: keep them
                await self._update_log(log.id, objects_before=[item.to_json() for item in before])
            script = restore_script(
                self._folder,
                self._adapter,
                plan.backup.filename,
                plan.manifest,
                plan.tables,
                plan.everything,
                plan.keyring,
            )
            tracker.phase(
                "restoring",
                f"Restoring {len(plan.tables)} table(s)",
                bytes_total=restore_bytes(plan),
            )
            try:
                # Live triggers must not rewrite the backup's rows on their way in.
                saved = (
                    await self._adapter.suspend_triggers(plan.tables) if script.data_only else []
                )
                try:
                    await asyncio.to_thread(self._adapter.restore, script, tracker.advance, cancel)
                finally:
                    await self._adapter.resume_triggers(saved)
            except BaseException as failure:
                message = await self._roll_back(plan, safety, before, tracker, failure)
                raise
            status, message = (
                JobStatus.COMPLETED,
                f"Restored {len(plan.tables)} table(s) from {plan.backup.filename}.",
            )
        except BaseException as exc:
            if message is None:
                reason = public_error(exc).message
                message = f"Restore failed before any table was touched: {reason}"
            if not isinstance(exc, Exception):
                raise
        finally:
            await self._finish(log, plan.backup, tracker, status, message, started)

    async def _take_safety_backup(
        self, plan: RestorePlan, actor: int, tracker: ProgressTracker, cancel: threading.Event
    ) -> Backup | None:
        """A backup of the live tables the restore overwrites (None when there are none)."""
        existing = await self._overwritten_tables(plan)
        if not existing and not plan.everything:
            return None
        row, handle = await self._backups.open_file(
            NewBackup(
                kind="safety",
                backup_type=BackupType.FULL if plan.everything else BackupType.SELECTIVE,
                tables=existing,
                include_schema=True,
                include_data=True,
                description=f"Safety backup before restoring backup #{plan.backup.id}"[:191],
                compression=plan.backup.compression,
                actor=actor,
                origin=BackupOrigin.SAFETY,
            )
        )
        dump = DumpPlan(
            full=plan.everything,
            tables=existing,
            exclude=CATALOG_TABLES,
            include_schema=True,
            include_data=True,
        )
        estimate = await self._adapter.estimate_bytes(existing)
        return await self._backups.write_file(row, dump, handle, tracker, cancel, estimate=estimate)

    async def _roll_back(
        self,
        plan: RestorePlan,
        safety: Backup | None,
        before: list[SchemaObject],
        tracker: ProgressTracker,
        failure: BaseException,
    ) -> str:
        """Put the live data back after a failed restore; returns what the log says."""
        reason = public_error(failure).message.rstrip(".") + "."
        if self._adapter.dialect == "sqlite":
            return f"Restore failed: {reason} It ran in one transaction: nothing was changed."
        if safety is None:
            if not plan.safety_backup:
                return (
                    f"Restore failed: {reason} No safety backup was taken (safetyBackup: false): "
                    f"tables {', '.join(plan.tables)} may be partly restored."
                )
            await self._drop_created(plan, before)
            return (
                f"Restore failed: {reason} None of these tables existed before; "
                "the ones it created were dropped."
            )
        tracker.phase("rolling-back", f"Putting the tables back from safety backup #{safety.id}")
        try:
            # What the failed restore created did not exist before: it goes.
            await self._drop_created(plan, before)
            manifest = await asyncio.to_thread(
                read_manifest, self._folder.manifest_path(safety.filename)
            )
            script = restore_script(
                self._folder,
                self._adapter,
                safety.filename,
                manifest,
                manifest.tables,
                everything=plan.everything,
            )
            await asyncio.to_thread(
                self._adapter.restore, script, tracker.advance, threading.Event()
            )
        except Exception as rollback:
            return (
                f"Restore failed: {reason} Rolling back from safety backup #{safety.id} "
                f"({safety.filename}) failed too: {public_error(rollback).message}. Restore that "
                "backup by hand before using the database."
            )
        return (
            f"Restore failed: {reason} The live data was rolled back from safety backup "
            f"#{safety.id}."
        )

    async def _drop_created(self, plan: RestorePlan, before: list[SchemaObject]) -> None:
        now = await self._adapter.schema_objects()
        created = created_by_restore(before, now, plan.tables, plan.everything)
        await self._adapter.drop_objects(created)

    # --- outcome -------------------------------------------------------------------------------
    async def _finish(
        self,
        log: RestoreLog,
        backup: Backup,
        tracker: ProgressTracker,
        status: JobStatus,
        message: str | None,
        started: float,
    ) -> None:
        """Record the outcome in the restore log (retrying while the database is away), send
        the final event, and tell the channels that listen."""
        log_id = log.id
        await record_outcome(
            functools.partial(
                self._update_log,
                log_id,
                status=status,
                error_message=None if status is JobStatus.COMPLETED else message,
                completed_at=datetime.now(UTC),
                duration_ms=int((time.monotonic() - started) * 1000),
            ),
            job_id(JobKind.RESTORE, log_id),
        )
        tracker.finish(status, message)
        completed = status is JobStatus.COMPLETED
        self._notifier.notify(
            NotificationEvent.RESTORE_COMPLETED if completed else NotificationEvent.RESTORE_FAILED,
            f"Restore #{log_id} of backup #{backup.id} {'completed' if completed else 'failed'}",
            message or "",
            {"restoreId": log_id, "backupId": backup.id, "tables": list(log.tables or [])},
        )

    async def _update_log(self, log_id: int, **values: object) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(RestoreLog).where(RestoreLog.id == log_id).values(**values)
            )
            await session.commit()


def _keys(keyring: Keyring | None) -> OpenKeys | None:
    """What verify_file opens an encrypted backup with: the keyring found at the start."""
    if keyring is None:
        return None
    return lambda manifest: keyring
