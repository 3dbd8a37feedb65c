"""The life of a restore drill, decided here: plan, lock, catalog row, run, outcome.

start()     the backup must be COMPLETED and its file intact; the job lock (a drill is a job like
            a backup or a restore: one at a time); the IN_PROGRESS row; the scratch database
            made empty (a missing grant is refused here, naming it)
_run()      the backup restored into the scratch database, timed (that is how long this backup
            takes to restore), then the scratch copy measured and compared with the evidence
            the database gave at backup time (compare.py), then the scratch database dropped
_finish()   the outcome: the row and the final progress event together, and a notification
            when the drill FAILED

The live database is never touched: the restore's client is pointed at the scratch database
(server/backup/adapters: `restore(into=)`), and events, which would run, are left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.adapters.base import DatabaseAdapter
from server.backup.evidence import Evidence
from server.backup.files import BackupFolder
from server.backup.history import get_backup
from server.backup.job import StartedJob
from server.backup.sections import read_section
from server.backup.verify import require_intact, verify_file
from server.db.enums import DrillStatus, JobStatus, NotificationEvent
from server.db.models import Backup, RestoreDrill
from server.drill.compare import compare
from server.drill.history import outcome_message
from server.errors import BadUserInput, Conflict, public_error
from server.events.bus import ProgressBus
from server.events.tracker import ProgressTracker
from server.jobs.ids import JobKind, job_id
from server.jobs.lock import JobLock
from server.jobs.runner import JobRunner, record_outcome
from server.notify.service import Notifier
from server.restore.plan import RestorePlan, plan_restore, require_definers_allowed, restore_script
from server.settings import Settings


class DrillJobs:
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
    ) -> None:
        self._settings = settings
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
        backup_id: int,
        *,
        actor: int,
        schedule_id: int | None = None,
        lock_wait: float = 0.0,
    ) -> StartedJob[RestoreDrill]:
        """Check, lock, record, make the scratch database and start the drill; returns at once
        with the drill IN_PROGRESS. A scratch database that cannot be made fails the drill
        here (recorded, notified) and raises, naming the grant that is missing. With
        `lock_wait` (a schedule's drill), wait up to that many seconds for a running job
        instead of refusing."""
        async with self._sessions() as session:
            backup = await get_backup(session, backup_id)
        if backup.status is not JobStatus.COMPLETED:
            raise Conflict(
                f"Backup #{backup.id} is {backup.status.value}; only a completed backup can be "
                "drilled."
            )
        if not backup.include_schema:
            raise BadUserInput(
                f"Backup #{backup.id} is data-only: it holds no table definitions to restore "
                "into an empty scratch database, so it cannot be drilled."
            )
        lock = await (self._lock.acquire_within(lock_wait) if lock_wait else self._lock.acquire())
        try:
            verification = await asyncio.to_thread(
                verify_file, self._folder, backup.filename, backup.checksum
            )
            manifest = require_intact(verification, backup.filename)
            plan = plan_restore(backup, manifest, None, safety_backup=False)
            await require_definers_allowed(
                self._adapter, manifest, plan.tables, everything=plan.everything, rollback=False
            )
            row = RestoreDrill(
                backup_id=backup.id,
                status=DrillStatus.IN_PROGRESS,
                tables=plan.tables,
                requested_by=actor,
                schedule_id=schedule_id,
            )
            async with self._sessions() as session:
                session.add(row)
                await session.commit()
        except BaseException:
            await lock.aclose()
            raise
        job = job_id(JobKind.DRILL, row.id)
        tracker = ProgressTracker(
            self._bus,
            asyncio.get_running_loop(),
            job,
            tables_total=len(plan.tables),
            bytes_total=None,
        )
        tracker.phase("queued", f"Restore drill of {backup.filename} queued")
        scratch = AsyncExitStack()
        started = time.monotonic()
        try:
            target = await scratch.enter_async_context(
                self._adapter.scratch(self._settings.drill_database)
            )
        except BaseException as exc:
            failure = public_error(exc)
            await self._finish(
                row, backup, tracker, DrillStatus.FAILED, [failure.message], [], None, started
            )
            await lock.aclose()
            raise failure from exc

        async def work(cancel: threading.Event) -> None:
            await self._run(plan, row, target, scratch, tracker, cancel, started)

        return StartedJob(row, self._runner.spawn(job, lock, work))

    # --- run -----------------------------------------------------------------------------------
    async def _run(
        self,
        plan: RestorePlan,
        row: RestoreDrill,
        target: str,
        scratch: AsyncExitStack,
        tracker: ProgressTracker,
        cancel: threading.Event,
        started: float,
    ) -> None:
        manifest = plan.manifest
        problems: list[str] = []
        unproven: list[str] = []
        restore_ms: int | None = None
        stage = "The restore into the scratch database"
        try:
            script = restore_script(
                self._folder,
                self._adapter,
                plan.backup.filename,
                manifest,
                plan.tables,
                plan.everything,
                events=False,
            )
            total = sum(s.sql_bytes for s in manifest.sections if s.table in (None, *plan.tables))
            tracker.phase(
                "restoring", "Restoring into the scratch database", bytes_total=total or None
            )
            restoring = time.monotonic()
            await asyncio.to_thread(
                functools.partial(
                    self._adapter.restore, script, tracker.advance, cancel, into=target
                )
            )
            restore_ms = int((time.monotonic() - restoring) * 1000)
            stage = "Comparing the scratch database with the evidence"
            tracker.phase("comparing", "Comparing the restored tables with the backup's evidence")
            restored = await asyncio.to_thread(
                functools.partial(
                    self._adapter.measure,
                    target,
                    plan.tables,
                    data=manifest.include_data,
                    objects=plan.everything,
                )
            )
            recorded = Evidence.from_json(plan.backup.evidence) if plan.backup.evidence else None
            verdict = compare(
                recorded,
                restored,
                manifest,
                plan.tables,
                objects=plan.everything,
                events=plan.everything and await asyncio.to_thread(self._has_events, plan),
            )
            problems, unproven = verdict.problems, verdict.unproven
        except BaseException as exc:
            problems.append(f"{stage} failed: {public_error(exc).message}")
            if not isinstance(exc, Exception):
                raise
        finally:
            tracker.phase("cleaning-up", "Dropping the scratch database")
            try:
                await scratch.aclose()
            except Exception as exc:
                problems.append(
                    f"The scratch database was not dropped: {public_error(exc).message}"
                )
            status = DrillStatus.FAILED if problems else DrillStatus.PASSED
            await self._finish(
                row, plan.backup, tracker, status, problems, unproven, restore_ms, started
            )

    def _has_events(self, plan: RestorePlan) -> bool:
        """Whether the backup's events section creates any (it is there, empty, in every
        FULL MariaDB backup)."""
        with self._folder.open_backup(plan.backup.filename) as handle:
            for section in plan.manifest.sections:
                if section.kind == "events":
                    text = b"".join(read_section(handle, section, plan.manifest.compression))
                    if b"CREATE" in text.upper():
                        return True
        return False

    # --- outcome -------------------------------------------------------------------------------
    async def _finish(
        self,
        row: RestoreDrill,
        backup: Backup,
        tracker: ProgressTracker,
        status: DrillStatus,
        problems: list[str],
        unproven: list[str],
        restore_ms: int | None,
        started: float,
    ) -> None:
        """Record the outcome (retrying while the database is away), send the final event, and
        tell the channels that listen when the drill failed."""
        values: dict[str, object] = {
            "status": status,
            "problems": problems,
            "unproven": unproven,
            "restore_ms": restore_ms,
            "completed_at": datetime.now(UTC),
            "duration_ms": int((time.monotonic() - started) * 1000),
        }
        await record_outcome(
            functools.partial(self._update_row, row.id, **values), job_id(JobKind.DRILL, row.id)
        )
        for key, value in values.items():
            setattr(row, key, value)
        tracker.finish(status.job, outcome_message(row, backup.filename))
        if status is DrillStatus.FAILED:
            with contextlib.suppress(Exception):  # a notification never fails a job
                self._notifier.notify(
                    NotificationEvent.DRILL_FAILED,
                    f"Restore drill of backup #{backup.id} failed",
                    "\n".join([f"Backup: {backup.filename} (#{backup.id})", *problems]),
                    {"backupId": backup.id, "drillId": row.id, "problems": problems},
                )

    async def _update_row(self, drill_id: int, **values: object) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(RestoreDrill).where(RestoreDrill.id == drill_id).values(**values)
            )
            await session.commit()
