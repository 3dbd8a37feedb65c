"""What the lifespan builds once and hands down: settings, the engine and its sessions, the
token verifier, Redis. Nothing here is created at import time, so a test builds its own."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psutil
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.auth.keys import TokenKeys
from server.auth.revocation import RevocationList
from server.auth.tokens import TokenVerifier
from server.backup.adapters import adapter_for
from server.backup.adapters.base import DatabaseAdapter
from server.backup.adapters.credentials import remove_stale_option_files
from server.backup.files import BackupFolder
from server.backup.job import BackupJobs
from server.cache.service import CacheService
from server.db.demo import seed_demo_database
from server.db.engine import create_engine, create_session_factory
from server.db.migrate import migrate, pending_revisions
from server.drill.job import DrillJobs
from server.encryption.keyring import Encryption
from server.errors import BackendUnavailable
from server.events.bus import ProgressBus
from server.health.service import ScheduleHealthSource
from server.jobs.lock import JobLock
from server.jobs.runner import JobRunner
from server.notify.checker import AlarmChecker
from server.notify.secrets import SecretBox
from server.notify.service import Notifier
from server.offsite.fetch import RemoteBackups
from server.offsite.job import OffsiteCopies
from server.offsite.targets import Targets
from server.recovery import Recovery
from server.restore.job import RestoreJobs
from server.rotation.policy import DEFAULT_RETENTION
from server.rotation.service import Rotation
from server.schedule.health import ScheduleHealthReader
from server.schedule.run import ScheduledRuns
from server.schedule.scheduler import Scheduler
from server.schedule.service import ScheduleService
from server.settings import Settings
from server.startup import check_catalog, check_database, check_redis
from server.system.users import UserDirectory

log = logging.getLogger("lumbung")


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    token_keys: TokenKeys
    tokens: TokenVerifier
    users: UserDirectory
    redis: Redis | None
    progress: ProgressBus
    adapter: DatabaseAdapter
    folder: BackupFolder
    jobs: JobRunner
    lock: JobLock
    backups: BackupJobs
    restores: RestoreJobs
    drills: DrillJobs
    secrets: SecretBox
    notifier: Notifier
    alarms: AlarmChecker
    caches: CacheService
    encryption: Encryption
    offsite: OffsiteCopies
    remote: RemoteBackups
    schedules: ScheduleService
    scheduler: Scheduler
    # Each schedule's row for backupHealth, from the schedules domain.
    schedule_health: ScheduleHealthSource
    clock: Callable[[], datetime] = system_clock
    revocation: RevocationList | None = None
    started_at: float = field(default_factory=time.time)

    async def close(self) -> None:
        await self.scheduler.stop()
        await self.alarms.stop()
        await self.caches.close()
        await self.offsite.close()
        if self.revocation is not None:
            await self.revocation.close()
        await self.jobs.shutdown()
        await self.notifier.close()
        await self.progress.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()

    async def check_database(self) -> None:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:
            raise BackendUnavailable(
                f"The database is unreachable ({type(exc).__name__}); check that it runs and "
                "that LUMBUNG_DATABASE_URL points at it."
            ) from None

    async def check_redis(self) -> None:
        if self.redis is None:
            return
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(
                f"Redis is unreachable ({type(exc).__name__}); check LUMBUNG_REDIS_URL."
            ) from None


async def open_resources(
    settings: Settings, token_keys: TokenKeys, *, clock: Callable[[], datetime] | None = None
) -> Resources:
    """Connect, migrate (in development) and seed the demo database when it is the default,
    and recover what a dead process left. `clock` is what schedules and new backups take as
    the time (tests walk it through years). The server's lifespan starts the scheduler; the
    CLI's one-off commands never do."""
    clock = clock or system_clock
    settings.backup_dir.mkdir(parents=True, exist_ok=True)
    encryption = Encryption(settings)  # a bad key or recipients file refuses to start
    engine = create_engine(settings)
    redis = Redis.from_url(settings.redis_url.get_secret_value()) if settings.redis_url else None
    sessions = create_session_factory(engine)
    progress = ProgressBus(redis)
    users = UserDirectory(settings.user_table)
    adapter = adapter_for(settings, engine)
    folder = BackupFolder(settings.backup_dir)
    jobs = JobRunner()
    lock = JobLock(sessions, adapter.job_lock)
    secrets = SecretBox.from_settings(settings)
    notifier = Notifier(settings, sessions, secrets)
    backups = BackupJobs(
        settings, sessions, adapter, folder, progress, jobs, lock, notifier, encryption, clock
    )
    targets = Targets(settings.offsite_targets, settings.offsite_timeout_seconds)
    offsite = OffsiteCopies(settings, sessions, folder, progress, jobs, targets)
    backups.completion_rows.append(offsite.copy_rows)
    backups.completed_hooks.append(offsite.backup_completed)
    remote = RemoteBackups(sessions, folder, targets)
    restores = RestoreJobs(
        settings,
        sessions,
        adapter,
        folder,
        progress,
        jobs,
        lock,
        backups,
        notifier,
        encryption,
        remote,
    )
    drills = DrillJobs(settings, sessions, adapter, folder, progress, jobs, lock, notifier)
    caches = CacheService(settings, engine=engine, sessions=sessions, users=users, redis=redis)
    rotation = Rotation(
        sessions,
        folder,
        lock,
        offsite,
        safety_min_age=timedelta(days=settings.safety_backup_min_age_days),
        clock=clock,
    )
    runs = ScheduledRuns(settings, sessions, backups, drills, caches, rotation, jobs, clock)
    revocation = (
        RevocationList.connect(
            settings.redis_url.get_secret_value(), leeway_seconds=settings.jwt_leeway_seconds
        )
        if settings.redis_url is not None and settings.revocation_enabled
        else None
    )
    resources = Resources(
        settings=settings,
        engine=engine,
        sessions=sessions,
        token_keys=token_keys,
        tokens=TokenVerifier(settings, token_keys, revocation),
        users=users,
        redis=redis,
        progress=progress,
        adapter=adapter,
        folder=folder,
        jobs=jobs,
        lock=lock,
        backups=backups,
        restores=restores,
        drills=drills,
        secrets=secrets,
        notifier=notifier,
        alarms=AlarmChecker(settings, sessions, adapter, folder, notifier, clock),
        caches=caches,
        schedules=ScheduleService(
            settings,
            sessions,
            adapter,
            runs,
            rotation,
            clock,
            DEFAULT_RETENTION,
            caches.worker,
        ),
        scheduler=Scheduler(settings, sessions, runs, notifier, clock, caches.worker),
        schedule_health=ScheduleHealthReader(settings, sessions),
        clock=clock,
        encryption=encryption,
        offsite=offsite,
        remote=remote,
        revocation=revocation,
    )
    try:
        await check_database(engine, settings)
        await check_redis(settings)
        if settings.demo_data_enabled and await seed_demo_database(engine):
            log.info("created the demo database", extra={"event": "demo.seeded"})
        if not settings.migrations_run_on_start:
            await check_catalog(engine)
        elif pending := await pending_revisions(engine):
            await migrate(engine)
            log.info(
                "catalog migrated to %s",
                pending[-1],
                extra={"event": "catalog.migrated", "applied": pending},
            )
        if stale := await asyncio.to_thread(remove_stale_option_files):
            log.warning(
                "removed option files that dead processes left in the temp folder",
                extra={"event": "jobs.stale_option_files", "count": len(stale)},
            )
        recovery = Recovery(sessions, adapter, folder, lock, restores, settings.drill_database)
        interrupted = await recovery.recover()
        await progress.start()
        # Before serving: the rollback holds the job lock before any request can start a job.
        await recovery.roll_back(interrupted)
        await resources.caches.start()
        offsite.start()
    except BaseException:
        await resources.close()
        raise
    # cpu_percent() measures since its previous call: prime it so the first reading is real.
    await asyncio.to_thread(psutil.cpu_percent, None)
    return resources
