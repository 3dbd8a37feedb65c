"""What the API and the CLI call: start a backup or a restore, verify, delete.

Every input is checked before anything starts: table names against the database's real
table list, `confirm` against the backup's filename, free space against an estimate.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from server.backup.engine import DumpPlan
from server.backup.jobs import (
    ROLLBACK_DESCRIPTION,
    InterruptedRestore,
    JobRunner,
    public_message,
)
from server.backup.restore import RestorePlan, require_definers_allowed, run_restore
from server.backup.verify import Verification, require_intact, verify_file
from server.db.models import Backup, BackupOrigin, BackupType, Compression, JobStatus, RestoreLog
from server.errors import BadUserInput, Conflict, InsufficientStorage, LumbungError
from server.events.progress import ProgressTracker
from server.system.info import format_bytes

MAX_DESCRIPTION = 191
MAX_NAMES_SHOWN = 5
# What a dump compresses to, roughly, for the free-space check (zstd -3 gives 2.4x on text).
COMPRESSION_RATIO = {"zstd": 0.5, "gzip": 0.5, "none": 1.1}
HEADROOM_BYTES = 16 * 2**20


@dataclass(frozen=True)
class BackupRequest:
    backup_type: BackupType
    tables: list[str] | None = None
    include_schema: bool = True
    include_data: bool = True
    description: str | None = None
    compression: Compression | None = None
    include_catalog: bool = False


def _shown(names: list[str]) -> str:
    shown = [repr(n if len(n) <= 64 else n[:64] + "...") for n in names[:MAX_NAMES_SHOWN]]
    more = len(names) - MAX_NAMES_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _description(text: str | None) -> str | None:
    if text is not None and len(text) > MAX_DESCRIPTION:
        raise BadUserInput(f"description is {len(text)} characters; at most {MAX_DESCRIPTION} fit.")
    return text


class BackupService:
    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner

    # --- backups -------------------------------------------------------------------------------
    async def _plan(self, request: BackupRequest) -> DumpPlan:
        if not (request.include_schema or request.include_data):
            raise BadUserInput("includeSchema and includeData are both false: nothing to back up.")
        real = await self.runner.engine.table_names()
        catalog = set(self.runner.catalog_tables)
        if request.backup_type is BackupType.FULL:
            if request.tables:
                raise BadUserInput(
                    "A FULL backup takes every table; use SELECTIVE to choose tables."
                )
            exclude = [] if request.include_catalog else sorted(catalog & set(real))
            tables = [t for t in real if t not in exclude]
            return DumpPlan(True, tables, exclude, request.include_schema, request.include_data)
        if request.backup_type is BackupType.PARTIAL:
            if request.tables:
                raise BadUserInput(
                    "A PARTIAL backup takes the core tables (LUMBUNG_CORE_TABLES); "
                    "use SELECTIVE to choose tables."
                )
            wanted = list(self.runner.settings.core_tables)
        else:
            if not request.tables:
                raise BadUserInput(
                    "A SELECTIVE backup needs `tables`: pick them from the `tables` query."
                )
            wanted = list(dict.fromkeys(request.tables))
        unknown = [t for t in wanted if t not in real]
        if unknown:
            raise BadUserInput(
                f"Unknown table(s): {_shown(unknown)}. Table names are exact and case-sensitive; "
                "list them with the `tables` query."
            )
        return DumpPlan(False, wanted, [], request.include_schema, request.include_data)

    async def _check_space(self, sql_bytes: int, compression: str) -> None:
        estimate = int(sql_bytes * COMPRESSION_RATIO[compression])
        folder = self.runner.folder.root
        folder.mkdir(parents=True, exist_ok=True)
        free = (await asyncio.to_thread(shutil.disk_usage, folder)).free
        if free < estimate + HEADROOM_BYTES:
            raise InsufficientStorage(
                f"The backup needs about {format_bytes(estimate + HEADROOM_BYTES)} but the backup "
                f"folder's disk has {format_bytes(free)} free; free space or delete old backups."
            )

    async def start_backup(
        self, request: BackupRequest, actor: int, *, origin: BackupOrigin = BackupOrigin.MANUAL
    ) -> tuple[Backup, asyncio.Task[None]]:
        """Check, lock, create the IN_PROGRESS row and start the job; returns at once."""
        description = _description(request.description)
        plan = await self._plan(request)
        compression = (
            request.compression or Compression(self.runner.settings.backup_compression)
        ).value
        # One estimate serves the free-space check and the progress total.
        estimate = await self.runner.engine.estimate_bytes(plan.tables)
        await self._check_space(estimate, compression)
        lock = await self.runner.acquire()
        try:
            name, handle = self.runner.folder.reserve(
                request.backup_type.value, compression, datetime.now(UTC)
            )
            try:
                row = await self.runner.new_backup_row(
                    Backup(
                        filename=name,
                        backup_type=request.backup_type.value,
                        tables=plan.tables,
                        include_data=request.include_data,
                        include_schema=request.include_schema,
                        description=description,
                        file_size=0,
                        status=JobStatus.IN_PROGRESS.value,
                        created_by=actor,
                        compression=compression,
                        origin=origin.value,
                    )
                )
            except BaseException:
                handle.close()
                self.runner.folder.remove(name)
                raise
        except BaseException:
            await lock.aclose()
            raise
        job_id = f"backup:{row.id}"
        tracker = ProgressTracker(
            self.runner.bus,
            asyncio.get_running_loop(),
            job_id,
            tables_total=len(plan.tables),
            bytes_total=estimate or None,
        )
        tracker.phase("queued", f"Backup {name} queued")

        async def work(cancel: threading.Event) -> None:
            try:
                await self.runner.dump_backup(row, plan, tracker, cancel, handle)
            except BaseException as exc:
                tracker.finish(JobStatus.FAILED.value, public_message(exc))
                if not isinstance(exc, Exception):
                    raise
                return
            tracker.finish(
                JobStatus.COMPLETED.value,
                f"Backup {name} completed ({format_bytes(row.file_size)}).",
            )

        task = self.runner.spawn(job_id, lock, work)
        return row, task

    # --- restores ------------------------------------------------------------------------------
    async def start_restore(
        self,
        backup: Backup,
        *,
        confirm: str,
        tables: list[str] | None,
        safety_backup: bool | None,
        description: str | None,
        actor: int,
    ) -> tuple[RestoreLog, asyncio.Task[None]]:
        """Check the confirmation, verify the whole file, lock, and start the restore."""
        description = _description(description)
        if confirm != backup.filename:
            raise BadUserInput(
                "To restore, `confirm` must repeat the backup's filename exactly: "
                f"{backup.filename}"
            )
        if backup.status != JobStatus.COMPLETED.value:
            raise Conflict(
                f"Backup #{backup.id} is {backup.status}; only a completed backup can be restored."
            )
        lock = await self.runner.acquire()
        try:
            # Verified before anything is touched: a damaged file is refused here.
            verification = await asyncio.to_thread(
                verify_file, self.runner.folder, backup.filename, backup.checksum
            )
            manifest = require_intact(verification, backup.filename)
            catalog = set(self.runner.catalog_tables)
            available = [t for t in manifest.table_sections() if t not in catalog]
            if tables:
                wanted = list(dict.fromkeys(tables))
                unknown = [t for t in wanted if t not in manifest.table_sections()]
                if unknown:
                    raise BadUserInput(
                        f"Not in this backup: {_shown(unknown)}. It holds {_shown(available)}."
                    )
                refused = [t for t in wanted if t in catalog]
                if refused:
                    raise BadUserInput(
                        f"{_shown(refused)}: Lumbung's own catalog is never overwritten."
                    )
            else:
                wanted = available
            everything = not tables and manifest.backup_type == BackupType.FULL.value
            plan = RestorePlan(
                backup=backup,
                manifest=manifest,
                tables=wanted,
                everything=everything,
                safety_backup=self.runner.settings.safety_backup
                if safety_backup is None
                else safety_backup,
            )
            await require_definers_allowed(
                self.runner.engine,
                manifest,
                wanted,
                everything=everything,
                rollback=plan.safety_backup,
            )
            async with self.runner.sessions() as session:
                log = RestoreLog(
                    backup_id=backup.id,
                    status=JobStatus.IN_PROGRESS.value,
                    description=description,
                    restored_by=actor,
                    tables=wanted,
                )
                session.add(log)
                await session.commit()
        except BaseException:
            await lock.aclose()
            raise
        job_id = f"restore:{log.id}"
        tracker = ProgressTracker(
            self.runner.bus,
            asyncio.get_running_loop(),
            job_id,
            tables_total=len(wanted),
            bytes_total=None,
        )
        tracker.phase("queued", f"Restore of {backup.filename} queued")

        async def work(cancel: threading.Event) -> None:
            await run_restore(self.runner, plan, log.id, actor, tracker, cancel)

        return log, self.runner.spawn(job_id, lock, work)

    async def roll_back_interrupted(self, interrupted: list[InterruptedRestore]) -> None:
        """Start restoring each interrupted restore's safety backup (after a crash, at start),
        and say in the interrupted restore's log which restore does it, or why none could."""
        for item in interrupted:
            try:
                rollback, _ = await self.start_restore(
                    item.safety,
                    confirm=item.safety.filename,
                    tables=None,
                    safety_backup=False,
                    description=ROLLBACK_DESCRIPTION.format(id=item.log_id),
                    actor=0,
                )
                note = f" Restore #{rollback.id} does that."
            except LumbungError as failure:
                note = (
                    f" That could not start: {failure.message} Restore safety backup "
                    f"#{item.safety.id} by hand before using the database."
                )
            async with self.runner.sessions() as session:
                log = await session.get(RestoreLog, item.log_id)
                if log is not None:
                    log.error_message = (log.error_message or "") + note
                    await session.commit()

    # --- verify and delete ---------------------------------------------------------------------
    async def verify(self, backup: Backup) -> Verification:
        if backup.status != JobStatus.COMPLETED.value:
            raise Conflict(
                f"Backup #{backup.id} is {backup.status}; "
                "only a completed backup has a file to verify."
            )
        return await asyncio.to_thread(
            verify_file, self.runner.folder, backup.filename, backup.checksum
        )

    async def delete(self, backup: Backup, confirm: str) -> list[str]:
        if confirm != backup.filename:
            raise BadUserInput(
                f"To delete, `confirm` must repeat the backup's filename exactly: {backup.filename}"
            )
        if backup.status == JobStatus.IN_PROGRESS.value:
            raise Conflict(f"Backup #{backup.id} is still running; wait for it to finish.")
        removed = await asyncio.to_thread(self.runner.folder.remove, backup.filename)
        async with self.runner.sessions() as session:
            row = await session.get(Backup, backup.id)
            if row is not None:
                await session.delete(row)
                await session.commit()
        return removed
