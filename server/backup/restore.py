"""Restoring a verified backup: a safety backup of what is about to be overwritten first, then
the backup's sections fed to the database; on failure, the live tables are put back from the
safety backup (SQLite needs none of that: its restore is one transaction)."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update

from server.backup.engine import BackupEngine, DumpPlan, RestoreScript
from server.backup.jobs import JobRunner, public_message
from server.backup.manifest import Manifest, read_manifest
from server.backup.sections import Section, read_section
from server.backup.verify import require_intact, verify_file
from server.db.models import Backup, BackupOrigin, BackupType, JobStatus, RestoreLog
from server.errors import BadUserInput
from server.events.progress import ProgressTracker


@dataclass(frozen=True)
class RestorePlan:
    backup: Backup
    manifest: Manifest
    tables: list[str]  # the table sections to restore
    everything: bool  # also views, events and routines (a whole FULL backup)
    safety_backup: bool


def restore_sections(manifest: Manifest, tables: list[str], everything: bool) -> list[Section]:
    """The sections a restore of `tables` feeds to the database, in file order (with views,
    events and routines when it restores `everything`)."""
    wanted = set(tables)
    return [
        s
        for s in sorted(manifest.sections, key=lambda s: s.offset)
        if s.kind in ("header", "footer")
        or (s.kind == "table" and s.table in wanted)
        or (everything and s.kind in ("view", "events", "routines"))
    ]


async def require_definers_allowed(
    engine: BackupEngine,
    manifest: Manifest,
    tables: list[str],
    *,
    everything: bool,
    rollback: bool,
) -> None:
    """Refuse, before anything is touched, a restore that would have to create a view,
    trigger, routine or event for an account that this database account may not act for. It
    would fail halfway otherwise, after dropping what it replaces. With `rollback` (a safety
    backup is taken), what the safety backup would put back counts too: a rollback that fails
    the same way would leave the database half restored."""
    sections = restore_sections(manifest, tables, everything)
    if any(s.definers is None for s in sections):
        return  # written before Lumbung recorded definers: the restore itself will say
    definers = {d for s in sections for d in s.definers or []}
    if rollback or not manifest.include_schema:
        # A data-only restore suspends the live triggers and creates them again afterwards.
        definers.update(await engine.live_definers(tables, everything=everything and rollback))
    refused = await engine.definers_refused(sorted(definers))
    if refused:
        raise BadUserInput(
            "This restore would create views, triggers, routines or events defined by "
            f"{', '.join(refused)}, and Lumbung's database account may create them only for "
            "itself. Nothing was changed. Grant the account SET USER (MariaDB 10.5.2+; SUPER "
            "before) or SET_USER_ID (MySQL 8), or restore as that account."
        )


def restore_script(
    runner: JobRunner, filename: str, manifest: Manifest, plan_tables: list[str], everything: bool
) -> RestoreScript:
    sections = restore_sections(manifest, plan_tables, everything)

    def chunks() -> Iterator[tuple[str | None, bytes]]:
        with runner.folder.open_backup(filename) as handle:
            for section in sections:
                if section.kind == "table" and section.table and not manifest.include_schema:
                    # A data-only backup replaces the rows: empty the table first.
                    yield section.table, runner.engine.empty_table_statement(section.table)
                for chunk in read_section(handle, section, manifest.compression):
                    yield section.table, chunk

    return RestoreScript(
        chunks=chunks, tables=plan_tables, full=everything, data_only=not manifest.include_schema
    )


async def _set_log(runner: JobRunner, log_id: int, **values: object) -> None:
    async with runner.sessions() as session:
        await session.execute(update(RestoreLog).where(RestoreLog.id == log_id).values(**values))
        await session.commit()


async def take_safety_backup(
    runner: JobRunner,
    plan: RestorePlan,
    actor: int,
    tracker: ProgressTracker,
    cancel: threading.Event,
) -> Backup | None:
    live = set(await runner.engine.table_names())
    existing = [t for t in plan.tables if t in live]
    if not existing and not plan.everything:
        return None
    kind = BackupType.FULL if plan.everything else BackupType.SELECTIVE
    name, handle = runner.folder.reserve("safety", plan.backup.compression, datetime.now(UTC))
    row = await runner.new_backup_row(
        Backup(
            filename=name,
            backup_type=kind.value,
            tables=existing,
            include_data=True,
            include_schema=True,
            description=f"Safety backup before restoring backup #{plan.backup.id}"[:191],
            file_size=0,
            status=JobStatus.IN_PROGRESS.value,
            created_by=actor,
            compression=plan.backup.compression,
            origin=BackupOrigin.SAFETY.value,
        )
    )
    dump = DumpPlan(
        full=plan.everything,
        tables=existing,
        exclude=runner.catalog_tables,
        include_schema=True,
        include_data=True,
    )
    return await runner.dump_backup(row, dump, tracker, cancel, handle)


async def run_restore(
    runner: JobRunner,
    plan: RestorePlan,
    log_id: int,
    actor: int,
    tracker: ProgressTracker,
    cancel: threading.Event,
) -> None:
    started = time.monotonic()
    safety: Backup | None = None
    status, message = JobStatus.FAILED, None
    try:
        if plan.safety_backup:
            tracker.phase("safety-backup", "Backing up the tables about to be overwritten")
            safety = await take_safety_backup(runner, plan, actor, tracker, cancel)
            if safety is not None:
                await _set_log(runner, log_id, safety_backup_id=safety.id)
            # The safety backup took time: check the file again right before using it.
            tracker.phase("verifying", "Verifying the backup file")
            verification = await asyncio.to_thread(
                verify_file, runner.folder, plan.backup.filename, plan.backup.checksum
            )
            require_intact(verification, plan.backup.filename)
        live_before = set(await runner.engine.table_names())
        script = restore_script(
            runner, plan.backup.filename, plan.manifest, plan.tables, plan.everything
        )
        total = sum(
            s.sql_bytes
            for s in plan.manifest.sections
            if s.kind != "table" or s.table in plan.tables
        )
        tracker.phase("restoring", f"Restoring {len(plan.tables)} table(s)", bytes_total=total)
        try:
            # Live triggers must not rewrite the backup's rows on their way in.
            saved = await runner.engine.suspend_triggers(plan.tables) if script.data_only else []
            try:
                await asyncio.to_thread(runner.engine.restore, script, tracker.advance, cancel)
            finally:
                await runner.engine.resume_triggers(saved)
        except BaseException as failure:
            message = await _roll_back(runner, plan, safety, live_before, tracker, failure)
            raise
        status, message = (
            JobStatus.COMPLETED,
            f"Restored {len(plan.tables)} table(s) from {plan.backup.filename}.",
        )
    except BaseException as exc:
        if message is None:
            message = f"Restore failed before any table was touched: {public_message(exc)}"
        if not isinstance(exc, Exception):
            raise
    finally:
        outcome = functools.partial(
            _set_log,
            runner,
            log_id,
            status=status.value,
            error_message=None if status is JobStatus.COMPLETED else message,
            completed_at=datetime.now(UTC),
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        await asyncio.shield(runner.record(outcome, f"restore:{log_id}"))
        tracker.finish(status.value, message)


async def _roll_back(
    runner: JobRunner,
    plan: RestorePlan,
    safety: Backup | None,
    live_before: set[str],
    tracker: ProgressTracker,
    failure: BaseException,
) -> str:
    reason = public_message(failure).rstrip(".") + "."
    if runner.engine.dialect == "sqlite":
        return f"Restore failed: {reason} It ran in one transaction: nothing was changed."
    if safety is None:
        if not plan.safety_backup:
            return (
                f"Restore failed: {reason} No safety backup was taken (safetyBackup: false): "
                f"tables {', '.join(plan.tables)} may be partly restored."
            )
        created = [t for t in plan.tables if t not in live_before]
        await runner.engine.drop_tables(created)
        return (
            f"Restore failed: {reason} None of these tables existed before; "
            "the ones it created were dropped."
        )
    tracker.phase("rolling-back", f"Putting the tables back from safety backup #{safety.id}")
    try:
        # Tables the failed restore created did not exist before: they go.
        await runner.engine.drop_tables([t for t in plan.tables if t not in live_before])
        manifest = await asyncio.to_thread(
            read_manifest, runner.folder.manifest_path(safety.filename)
        )
        script = restore_script(
            runner, safety.filename, manifest, manifest.tables, everything=plan.everything
        )
        await asyncio.to_thread(runner.engine.restore, script, tracker.advance, threading.Event())
    except Exception as rollback:
        return (
            f"Restore failed: {reason} Rolling back from safety backup #{safety.id} "
            f"({safety.filename}) failed too: {public_message(rollback)}. Restore that backup "
            "by hand before using the database."
        )
    return (
        f"Restore failed: {reason} The live data was rolled back from safety backup #{safety.id}."
    )
