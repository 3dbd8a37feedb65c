"""The life of an offsite copy, decided here: schedule, claim, run, outcome, retry.

    copy_rows()         a backup is COMPLETED (not a safety backup: those stay here): one
                        PENDING copy row per enabled target, due now, written with the
                        backup's COMPLETED row; backup_completed() then wakes the sweep
    _sweep()            in every server process: due copies (PENDING; FAILED whose retry time
                        has come; IN_PROGRESS whose claimant stopped renewing its lease) are
                        claimed with one conditional UPDATE each, so one process runs each copy
    _run()              upload (S3 multipart / SFTP `.partial`), read it back and compare with
                        the backup's SHA-256, publish it, then the manifest, last
    _finish()           the row (COMPLETED with verifiedAt, or FAILED with the reason and the
                        next attempt, backing off) and the final progress event, together

A copy takes no job lock: it only reads a finished file that nothing rewrites, so backups and
restores go on while it runs. What it must not race with is the deletion of its backup or of
the copy itself: delete_copy() (deleteBackup, rotation) stops a copy running here first, and
refuses while another process holds one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import threading
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.files import BackupFolder
from server.db.enums import BackupOrigin, CopyStatus, JobStatus
from server.db.models import Backup, BackupCopy
from server.errors import ChecksumMismatch, Conflict, NotFound, public_error
from server.events.bus import ProgressBus
from server.events.tracker import ProgressTracker, Stage
from server.jobs.ids import JobKind, job_id
from server.jobs.runner import JobRunner, record_outcome
from server.offsite.targets import MANIFEST_SUFFIX, Target, Targets
from server.settings import Settings
from server.units import format_bytes

log = logging.getLogger("lumbung.offsite")

LEASE_SECONDS = 60.0  # a claimed copy is its claimant's this long, renewed every third of it
SWEEP_SECONDS = 30.0  # due copies are looked for at least this often
MAX_RUNNING = 2  # copies one process runs at once
DUE = (CopyStatus.PENDING, CopyStatus.FAILED)
# A copy's phases and their shares of the bar: each moves the whole file once, and an upload
# is the slower (SeaweedFS on loopback took 60-130 MB/s up, ~500 MB/s back down).
COPY_STAGES: list[Stage] = [("uploading", 3.0), ("verifying", 1.0)]


def _now() -> datetime:
    return datetime.now(UTC)


class LocalFileGone(NotFound):
    """The backup's own file left the folder: there is nothing to copy, now or later."""


class OffsiteCopies:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        folder: BackupFolder,
        bus: ProgressBus,
        runner: JobRunner,
        targets: Targets,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._folder = folder
        self._bus = bus
        self._runner = runner
        self.targets = targets
        self._wake = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None
        self._running: dict[int, asyncio.Task[None]] = {}

    # --- schedule ------------------------------------------------------------------------------
    def start(self) -> None:
        if self.targets.enabled:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="lumbung-offsite")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)

    def copy_rows(self, backup: Backup) -> list[BackupCopy]:
        """A completed backup's copies, PENDING and due now, one per enabled target: written
        by BackupJobs in the same transaction as the backup's COMPLETED row. Safety backups
        stay on this machine."""
        if backup.origin is BackupOrigin.SAFETY:
            return []
        now = _now()
        return [
            BackupCopy(
                backup_id=backup.id,
                target=target.name,
                status=CopyStatus.PENDING,
                next_attempt_at=now,
            )
            for target in self.targets.enabled
        ]

    async def backup_completed(self, backup: Backup) -> None:
        """The hook BackupJobs calls once a backup is COMPLETED: its copies start now."""
        if backup.origin is not BackupOrigin.SAFETY and self.targets.enabled:
            self._wake.set()

    async def copy_now(self, backup_id: int, target: str | None = None) -> list[BackupCopy]:
        """Copy a backup to one target (or every enabled one) now: a backup made before the
        target existed, a copy deleted by rotation, or a failed one not to wait for."""
        names = (
            [self.targets.config(target).name] if target else [t.name for t in self.targets.enabled]
        )
        if not names:
            raise NotFound("No offsite target is enabled (LUMBUNG_OFFSITE_TARGETS).")
        now = _now()
        async with self._sessions() as session:
            backup = await session.get(Backup, backup_id)
            if backup is None:
                raise NotFound(f"No backup has id {backup_id}; list them with the `backups` query.")
            if backup.status is not JobStatus.COMPLETED:
                raise Conflict(
                    f"Backup #{backup_id} is {backup.status.value}: only a completed backup "
                    "is copied."
                )
            if backup.origin is BackupOrigin.SAFETY:
                raise Conflict(
                    f"Backup #{backup_id} is a safety backup: those stay on this machine."
                )
            rows = []
            for name in names:
                row = (
                    await session.scalars(
                        select(BackupCopy).where(
                            BackupCopy.backup_id == backup_id, BackupCopy.target == name
                        )
                    )
                ).first()
                if row is None:
                    row = BackupCopy(backup_id=backup_id, target=name)
                    session.add(row)
                elif row.status is CopyStatus.IN_PROGRESS:
                    rows.append(row)
                    continue  # it is being copied right now
                row.status = CopyStatus.PENDING
                row.next_attempt_at = now
                row.error_message = None
                rows.append(row)
            await session.commit()
        self._wake.set()
        return rows

    async def settled(self, backup_id: int, poll: float = 0.2) -> list[BackupCopy]:
        """Wait until each of a backup's copies has ended its attempt (COMPLETED or FAILED),
        whichever process runs it; returns them (`lumbung backup` waits so)."""
        while True:
            async with self._sessions() as session:
                rows = list(
                    (
                        await session.scalars(
                            select(BackupCopy).where(BackupCopy.backup_id == backup_id)
                        )
                    ).all()
                )
            if all(row.status not in (CopyStatus.PENDING, CopyStatus.IN_PROGRESS) for row in rows):
                return rows
            await asyncio.sleep(poll)

    def local_files_present(self, backup: Backup) -> bool:
        """Whether the backup's own file and manifest are here to copy (blocking)."""
        return self._folder.has_files(backup.filename)

    # --- claim ---------------------------------------------------------------------------------
    async def _sweep_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = await self._sweep()
            except Exception:
                log.warning(
                    "offsite sweep failed", exc_info=True, extra={"event": "offsite.sweep_failed"}
                )
                wait = SWEEP_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    def _due(self, now: datetime) -> object:
        return or_(
            and_(BackupCopy.status.in_(DUE), BackupCopy.next_attempt_at <= now),
            and_(BackupCopy.status == CopyStatus.IN_PROGRESS, BackupCopy.lease_until < now),
        )

    async def _sweep(self) -> float:
        """Claim and start due copies (as many as there are free slots); returns how long to
        wait before looking again."""
        now = _now()
        names = [target.name for target in self.targets.enabled]
        free = MAX_RUNNING - len(self._running)
        async with self._sessions() as session:
            due = (
                await session.scalars(
                    select(BackupCopy.id)
                    .where(BackupCopy.target.in_(names), self._due(now))  # type: ignore[arg-type]
                    .order_by(BackupCopy.id)
                    .limit(max(free, 0) + len(self._running))
                )
            ).all()
            upcoming = await session.scalar(
                select(func.min(BackupCopy.next_attempt_at)).where(
                    BackupCopy.target.in_(names),
                    BackupCopy.status.in_(DUE),
                    BackupCopy.next_attempt_at > now,
                )
            )
        for copy_id in due:
            if free <= 0:
                return 0.5  # more are due: look again once a slot may be free
            if copy_id in self._running:
                continue
            if await self._claim(copy_id, now):
                self._spawn(copy_id)
                free -= 1
        if upcoming is None:
            return SWEEP_SECONDS
        return min(max((upcoming - _now()).total_seconds(), 0.05), SWEEP_SECONDS)

    async def _claim(self, copy_id: int, now: datetime) -> bool:
        async with self._sessions() as session:
            result = await session.execute(
                update(BackupCopy)
                .where(BackupCopy.id == copy_id, self._due(now))  # type: ignore[arg-type]
                .values(
                    status=CopyStatus.IN_PROGRESS,
                    lease_until=now + timedelta(seconds=LEASE_SECONDS),
                    attempts=BackupCopy.attempts + 1,
                    error_message=None,
                    updated_at=now,
                )
            )
            await session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _renew_lease(self, copy_id: int) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            with contextlib.suppress(Exception):  # the database may be away a moment
                async with self._sessions() as session:
                    await session.execute(
                        update(BackupCopy)
                        .where(
                            BackupCopy.id == copy_id, BackupCopy.status == CopyStatus.IN_PROGRESS
                        )
                        .values(lease_until=_now() + timedelta(seconds=LEASE_SECONDS))
                    )
                    await session.commit()

    # --- run -----------------------------------------------------------------------------------
    def _spawn(self, copy_id: int) -> None:
        job = job_id(JobKind.OFFSITE, copy_id)
        tracker = ProgressTracker(
            self._bus,
            asyncio.get_running_loop(),
            job,
            tables_total=0,
            bytes_total=None,
            stages=COPY_STAGES,
        )

        async def work(cancel: threading.Event) -> None:
            try:
                await self._run(copy_id, tracker, cancel)
            finally:
                self._running.pop(copy_id, None)
                self._wake.set()

        self._running[copy_id] = self._runner.spawn(job, AsyncExitStack(), work)

    async def _run(self, copy_id: int, tracker: ProgressTracker, cancel: threading.Event) -> None:
        started = time.monotonic()
        renewing = asyncio.create_task(self._renew_lease(copy_id))
        async with self._sessions() as session:
            copy = await session.get(BackupCopy, copy_id)
            backup = await session.get(Backup, copy.backup_id) if copy is not None else None
        if copy is None or backup is None:
            renewing.cancel()
            return  # deleted with its backup meanwhile
        tracker.phase("queued", f"Copy of {backup.filename} to {copy.target} starting")
        values: dict[str, object]
        try:
            size = await self._copy(copy.target, backup, tracker, cancel)
            status = CopyStatus.COMPLETED
            message = (
                f"Copied {backup.filename} to {copy.target} and read it back intact "
                f"({format_bytes(size)})."
            )
            values = {
                "size": size,
                "verified_at": _now(),
                "error_message": None,
                "next_attempt_at": None,
            }
        except BaseException as exc:
            failure = public_error(exc)
            status = CopyStatus.FAILED
            retry = None if isinstance(exc, LocalFileGone) else self._retry_at(copy.attempts)
            message = failure.message + (
                f" Retried at {retry:%Y-%m-%d %H:%M:%S} UTC." if retry is not None else ""
            )
            values = {"error_message": message, "next_attempt_at": retry}
            if not isinstance(exc, Exception):
                await self._finish(copy_id, tracker, status, message, values)
                raise
        finally:
            renewing.cancel()
        await self._finish(copy_id, tracker, status, message, values)
        log.info(
            "offsite copy %s",
            status.value,
            extra={
                "event": "offsite.copy",
                "copy": copy_id,
                "target": copy.target,
                "backup": backup.id,
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    def _retry_at(self, attempts: int) -> datetime:
        delay = self._settings.offsite_retry_seconds * 2 ** max(attempts - 1, 0)
        return _now() + timedelta(seconds=min(delay, self._settings.offsite_retry_max_seconds))

    async def _copy(
        self, name: str, backup: Backup, tracker: ProgressTracker, cancel: threading.Event
    ) -> int:
        """Upload, read back and compare, publish, then the manifest; returns the size."""
        local = self._folder.path(backup.filename)
        manifest_path = self._folder.manifest_path(backup.filename)
        try:
            size = (await asyncio.to_thread(local.stat)).st_size
            manifest = await asyncio.to_thread(manifest_path.read_bytes)
        except FileNotFoundError:
            raise LocalFileGone(
                f"The file of backup {backup.filename} is no longer in the backup folder: "
                "there is nothing to copy."
            ) from None
        target: Target = await asyncio.to_thread(self.targets.open, name)

        def progress(done: int) -> None:
            tracker.advance(sql_bytes=done, table=None)

        try:
            tracker.phase("uploading", f"Uploading {backup.filename} to {name}", bytes_total=size)
            staged = await asyncio.to_thread(
                target.upload, local, backup.filename, progress, cancel
            )
            tracker.phase(
                "verifying", f"Reading {backup.filename} back from {name}", bytes_total=size
            )
            digest = hashlib.sha256()
            got = await asyncio.to_thread(target.read, staged, digest.update, progress, cancel)
            if got != size or digest.hexdigest() != backup.checksum:
                await asyncio.to_thread(target.delete, backup.filename)
                raise ChecksumMismatch(
                    f"The copy of {backup.filename} on {name} did not read back as it was sent "
                    "(size or SHA-256 differ); it was deleted."
                )
            await asyncio.to_thread(target.publish, staged, backup.filename)
            # The manifest last: a copy without one is not a copy.
            await asyncio.to_thread(target.put_small, backup.filename + MANIFEST_SUFFIX, manifest)
        finally:
            await asyncio.to_thread(target.close)
        return size

    # --- outcome -------------------------------------------------------------------------------
    async def _finish(
        self,
        copy_id: int,
        tracker: ProgressTracker,
        status: CopyStatus,
        message: str,
        values: dict[str, object],
    ) -> None:
        """Record the outcome (unless the copy was deleted meanwhile), then the final event."""
        await record_outcome(
            functools.partial(self._update, copy_id, status=status, lease_until=None, **values),
            job_id(JobKind.OFFSITE, copy_id),
        )
        tracker.finish(
            JobStatus.COMPLETED if status is CopyStatus.COMPLETED else JobStatus.FAILED, message
        )

    async def _update(self, copy_id: int, **values: object) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(BackupCopy)
                .where(BackupCopy.id == copy_id, BackupCopy.status == CopyStatus.IN_PROGRESS)
                .values(updated_at=_now(), **values)
            )
            await session.commit()

    # --- delete ---------------------------------------------------------------------------------
    async def delete_copy(self, backup_id: int, target: str) -> bool:
        """Delete backup `backup_id`'s copy on one target and mark it DELETED (rotation per
        target calls this; deleteBackup calls it for each target). The manifest goes first, so
        a copy cut off halfway never looks whole. A copy running here is stopped first; one
        another process is running is a Conflict. Returns False when there was nothing there."""
        async with self._sessions() as session:
            copy = (
                await session.scalars(
                    select(BackupCopy).where(
                        BackupCopy.backup_id == backup_id, BackupCopy.target == target
                    )
                )
            ).first()
            backup = await session.get(Backup, backup_id)
        if copy is None or backup is None or copy.status is CopyStatus.DELETED:
            return False
        if copy.status is CopyStatus.IN_PROGRESS:
            await self._stop(copy)
        self.targets.config(target)  # NotFound when it is no longer configured
        remote: Target = await asyncio.to_thread(self.targets.open, target)
        try:
            await asyncio.to_thread(remote.delete, backup.filename + MANIFEST_SUFFIX)
            await asyncio.to_thread(remote.delete, backup.filename)
        finally:
            await asyncio.to_thread(remote.close)
        async with self._sessions() as session:
            await session.execute(
                update(BackupCopy)
                .where(BackupCopy.id == copy.id)
                .values(
                    status=CopyStatus.DELETED,
                    next_attempt_at=None,
                    lease_until=None,
                    verified_at=None,
                    error_message=None,
                    updated_at=_now(),
                )
            )
            await session.commit()
        return True

    async def _stop(self, copy: BackupCopy) -> None:
        task = self._runner.cancel(job_id(JobKind.OFFSITE, copy.id))
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        elif copy.lease_until is not None and copy.lease_until > _now():
            raise Conflict(
                f"The copy of backup #{copy.backup_id} to {copy.target} is running in another "
                "server process; try again once it has ended."
            )
        async with self._sessions() as session:  # stopped (or its claimant died): not due
            await session.execute(
                update(BackupCopy)
                .where(BackupCopy.id == copy.id)
                .values(status=CopyStatus.FAILED, lease_until=None, next_attempt_at=None)
            )
            await session.commit()
