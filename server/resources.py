"""What the lifespan builds once and hands down: settings, the engine and its sessions, the
token verifier, Redis. Nothing here is created at import time, so a test builds its own."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

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
from server.backup.files import BackupFolder
from server.backup.job import BackupJobs
from server.cache.service import CacheService
from server.db.demo import seed_demo_database
from server.db.engine import create_engine, create_session_factory
from server.db.migrate import migrate, pending_revisions
from server.encryption.keyring import Encryption
from server.errors import BackendUnavailable, ConfigurationError
from server.events.bus import ProgressBus
from server.jobs.lock import JobLock
from server.jobs.runner import JobRunner
from server.offsite.fetch import RemoteBackups
from server.offsite.job import OffsiteCopies
from server.offsite.targets import Targets
from server.recovery import Recovery
from server.restore.job import RestoreJobs
from server.settings import Settings
from server.system.users import UserDirectory

log = logging.getLogger("lumbung")


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
    caches: CacheService
    encryption: Encryption
    offsite: OffsiteCopies
    remote: RemoteBackups
    revocation: RevocationList | None = None
    started_at: float = field(default_factory=time.time)

    async def close(self) -> None:
        await self.caches.close()
        await self.offsite.close()
        if self.revocation is not None:
            await self.revocation.close()
        await self.jobs.shutdown()
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


async def open_resources(settings: Settings, token_keys: TokenKeys) -> Resources:
    """Connect, migrate (in development) and seed the demo database when it is the default."""
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
    backups = BackupJobs(settings, sessions, adapter, folder, progress, jobs, lock, encryption)
    targets = Targets(settings.offsite_targets, settings.offsite_timeout_seconds)
    offsite = OffsiteCopies(settings, sessions, folder, progress, jobs, targets)
    backups.completion_rows.append(offsite.copy_rows)
    backups.completed_hooks.append(offsite.backup_completed)
    remote = RemoteBackups(sessions, folder, targets)
    restores = RestoreJobs(
        settings, sessions, adapter, folder, progress, jobs, lock, backups, encryption, remote
    )
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
        caches=CacheService(settings, engine=engine, sessions=sessions, users=users, redis=redis),
        encryption=encryption,
        offsite=offsite,
        remote=remote,
        revocation=revocation,
    )
    try:
        await resources.check_database()
        if settings.demo_data_enabled and await seed_demo_database(engine):
            log.info("created the demo database", extra={"event": "demo.seeded"})
        if settings.migrations_run_on_start:
            await migrate(engine)
        elif pending := await pending_revisions(engine):
            raise ConfigurationError(
                f"the catalog needs migrations {pending}: run `lumbung migrate` first"
            )
        recovery = Recovery(sessions, adapter, folder, lock, restores)
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
