"""The life of a scheduled run, decided here: from its claimed row (WAITING) to its outcome.

    start()     spawn the run as a job (`schedule-run:<id>`), beating its row's updatedAt
                while it lives, so that a run whose process died can be told from a live one
    _backup()   BackupJobs.start(origin=SCHEDULED), waiting up to
                LUMBUNG_SCHEDULE_LOCK_WAIT_MINUTES for a running job; then RUNNING with the
                backup's id, following the backup's own task (its progress is the backup's,
                on backupProgress); after a COMPLETED backup, rotation (server/rotation/):
                of the backups here, then of the copies on each offsite target; then the
                schedule's restore drill when one is due (drills.py)
    _drill()    DrillJobs.start(schedule_id=), waiting for the job lock within the same
                bound; the run records the drill's id and follows it to its end
    _clear()    the clearCache service itself, recorded as a CacheLog
    _finish     the outcome in the run's row, retried while the database is away

Every outcome is recorded, failures included: a run that could not start (the lock stayed
held, a table was dropped since) is FAILED with the reason; so is a run whose backup completed
but whose rotation or due drill failed, or whose drill could not start ("Backup #N completed,
but ...").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.job import BackupJobs
from server.backup.plan import BackupRequest
from server.cache.request import ClearRequest
from server.cache.service import CacheService
from server.db.enums import BackupOrigin, DrillStatus, JobStatus, RunStatus
from server.db.models import Backup, RestoreDrill, Schedule, ScheduleRun
from server.drill.job import DrillJobs
from server.errors import Conflict, LumbungError, public_error
from server.jobs.ids import JobKind, job_id
from server.jobs.runner import JobRunner, record_outcome
from server.rotation.service import Rotation
from server.schedule.actions import stored_action
from server.schedule.drills import drill_due
from server.settings import Settings

log = logging.getLogger("lumbung.schedule")

HEARTBEAT_SECONDS = 30.0
# A run left WAITING or RUNNING whose row has not moved for this long belonged to a process
# that died. Far above the heartbeat, so that clocks a little apart never close a live run.
STALE_AFTER = timedelta(minutes=5)
INTERRUPTED_RUN = "Interrupted: the process running this schedule stopped before it finished."


class ScheduledRuns:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        backups: BackupJobs,
        drills: DrillJobs,
        caches: CacheService,
        rotation: Rotation,
        runner: JobRunner,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._backups = backups
        self._drills = drills
        self._caches = caches
        self._rotation = rotation
        self._runner = runner
        self._clock = clock

    @property
    def lock_wait(self) -> float:
        return self._settings.schedule_lock_wait_minutes * 60

    def start(self, schedule: Schedule, run: ScheduleRun) -> asyncio.Task[None]:
        """Run a claimed run in the background; the task ends once its outcome is recorded."""

        async def work(cancel: threading.Event) -> None:
            await self._run(schedule, run)

        # The run holds no lock of its own: the backup it starts takes the job lock.
        return self._runner.spawn(job_id(JobKind.SCHEDULE_RUN, run.id), AsyncExitStack(), work)

    async def _run(self, schedule: Schedule, run: ScheduleRun) -> None:
        heartbeat = asyncio.create_task(self._beat(run.id))
        status: RunStatus = RunStatus.FAILED
        values: dict[str, Any] = {}
        try:
            action = stored_action(schedule.action, schedule.options)
            if action.backup is not None:
                status, values = await self._backup(schedule, run, action.backup)
            else:
                assert action.clear is not None
                status, values = await self._clear(schedule, action.clear)
        except BaseException as exc:
            values = {"error_message": public_error(exc).message}
            if not isinstance(exc, Exception):
                await self._finish(run, RunStatus.FAILED, values)
                raise
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await self._finish(run, status, values)

    # --- the two kinds of work ---------------------------------------------------------------
    async def _backup(
        self, schedule: Schedule, run: ScheduleRun, request: BackupRequest
    ) -> tuple[RunStatus, dict[str, Any]]:
        try:
            started = await self._backups.start(
                request,
                schedule.created_by,
                origin=BackupOrigin.SCHEDULED,
                schedule_id=schedule.id,
                lock_wait=self.lock_wait,
            )
        except Conflict as busy:
            minutes = self._settings.schedule_lock_wait_minutes
            return RunStatus.FAILED, {
                "error_message": f"Not run: waited {minutes:g} minute(s) for the job lock. "
                + busy.message
            }
        await self._update(run.id, status=RunStatus.RUNNING, backup_id=started.row.id)
        await started.task
        async with self._sessions() as session:
            backup = await session.get(Backup, started.row.id)
        if backup is None or backup.status is not JobStatus.COMPLETED:
            reason = backup.error_message if backup is not None else "its row is gone"
            return RunStatus.FAILED, {
                "backup_id": started.row.id,
                "error_message": f"Backup #{started.row.id} failed: {reason}",
            }
        values: dict[str, Any] = {"backup_id": backup.id}
        if schedule.rotation_enabled:
            try:
                rotated = await self._rotation.rotate(schedule, lock_wait=self.lock_wait)
            except Exception as exc:
                return RunStatus.FAILED, {
                    **values,
                    "error_message": f"Backup #{backup.id} completed, but rotation failed: "
                    + public_error(exc).message,
                }
            values["rotated"] = [f"#{gone.id} {gone.filename}" for gone in rotated.backups]
            values["rotated_copies"] = [str(copy) for copy in rotated.copies]
            if rotated.problems:
                # The run did its work; what rotation left (a target down, a copy being
                # uploaded elsewhere) is said here, and the next rotation tries again.
                values["error_message"] = (
                    "Rotation left what it could not delete, for the next rotation: "
                    + "; ".join(rotated.problems)
                )
        async with self._sessions() as session:
            due = await drill_due(session, schedule, run)
        if not due:
            return RunStatus.COMPLETED, values
        failure = await self._drill(schedule, run, backup)
        if failure is not None:
            return RunStatus.FAILED, {
                **values,
                "error_message": f"Backup #{backup.id} completed, but {failure}",
            }
        return RunStatus.COMPLETED, values

    async def _drill(self, schedule: Schedule, run: ScheduleRun, backup: Backup) -> str | None:
        """Drill the backup the run made and wait for the verdict; what went wrong, or None
        when the drill passed. The drill's own _finish tells the channels when it fails."""
        asked = time.monotonic()
        try:
            started = await self._drills.start(
                backup.id, actor=0, schedule_id=schedule.id, lock_wait=self.lock_wait
            )
        except LumbungError as refused:
            waited = time.monotonic() - asked >= self.lock_wait and isinstance(refused, Conflict)
            minutes = self._settings.schedule_lock_wait_minutes
            after = f" after waiting {minutes:g} minute(s) for the job lock" if waited else ""
            return f"its restore drill did not start{after}: {refused.message}"
        await self._update(run.id, drill_id=started.row.id)
        await started.task
        async with self._sessions() as session:
            drill = await session.get(RestoreDrill, started.row.id)
        if drill is None:
            return f"restore drill #{started.row.id} is gone (its backup was deleted)."
        if drill.status is DrillStatus.PASSED:
            return None
        problems = " ".join((drill.problems or [])[:3]) or "see the drill."
        return f"restore drill #{drill.id} failed: {problems}"

    async def _clear(
        self, schedule: Schedule, request: ClearRequest
    ) -> tuple[RunStatus, dict[str, Any]]:
        outcome = await self._caches.clear(request, actor_id=schedule.created_by)
        values: dict[str, Any] = {"cache_log_id": outcome.log.id if outcome.log else None}
        if outcome.failures:
            values["error_message"] = (
                f"{outcome.message} Failed: {'; '.join(outcome.failed_labels)}"
            )
            return RunStatus.FAILED, values
        return RunStatus.COMPLETED, values

    # --- the row ----------------------------------------------------------------------------------
    async def _finish(self, run: ScheduleRun, status: RunStatus, values: dict[str, Any]) -> None:
        await record_outcome(
            functools.partial(
                self._update, run.id, status=status, completed_at=self._clock(), **values
            ),
            job_id(JobKind.SCHEDULE_RUN, run.id),
        )
        log.log(
            logging.INFO if status is RunStatus.COMPLETED else logging.WARNING,
            "schedule run %s",
            status.value,
            extra={
                "event": f"schedule.run_{status.value}",
                "schedule": run.schedule_id,
                "run": run.id,
                "error": values.get("error_message"),
            },
        )

    async def _beat(self, run_id: int) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(Exception):  # the database may be away for a moment
                await self._update(run_id)

    async def _update(self, run_id: int, **values: object) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(ScheduleRun)
                .where(ScheduleRun.id == run_id)
                .values(updated_at=self._clock(), **values)
            )
            await session.commit()
