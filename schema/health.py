"""`backupHealth`: is the database protected right now?"""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from schema.scalars import BigInt
from schema.types import Backup, RestoreDrill
from server.health import service


@strawberry.enum(description="How protected the database is now.")
class HealthStatus(enum.Enum):
    OK = strawberry.enum_value("ok", description="Nothing to do.")
    WARNING = strawberry.enum_value("warning", description="Something needs attention soon.")
    CRITICAL = strawberry.enum_value(
        "critical", description="The data is not protected as it should be: see `problems`."
    )


@strawberry.type(description="One schedule's state.")
class ScheduleHealth:
    schedule_id: int = strawberry.field(description="The schedule's id.")
    name: str = strawberry.field(description="Its name.")
    enabled: bool = strawberry.field(description="Whether it runs.")
    last_success_at: datetime | None = strawberry.field(
        description="When its last run completed (null if none has)."
    )
    overdue: bool = strawberry.field(description="Whether a run is late or was missed.")
    next_run_at: datetime | None = strawberry.field(description="When it runs next.")
    last_drill: RestoreDrill | None = strawberry.field(
        description="The newest drill of one of its backups."
    )


@strawberry.type(description="The backup folder's disk.")
class StorageHealth:
    free_bytes: BigInt = strawberry.field(description="Free space, in bytes.")
    total_bytes: BigInt = strawberry.field(description="The disk's size, in bytes.")
    used_by_backups_bytes: BigInt = strawberry.field(
        description="What the completed backups' files take."
    )
    growth_bytes_per_day: BigInt = strawberry.field(
        description="Bytes of backups made per day, over the last 7 days."
    )
    days_left: float | None = strawberry.field(
        description="Days until the disk is full at that growth (null: no growth)."
    )
    next_backup_bytes: BigInt = strawberry.field(
        description="What the next full backup needs, roughly (with headroom)."
    )
    enough_for_next_backup: bool = strawberry.field(description="Whether it fits now.")


@strawberry.type(description="Is the database protected right now?")
class BackupHealth:
    status: HealthStatus = strawberry.field(description="OK, WARNING or CRITICAL.")
    problems: list[str] = strawberry.field(description="What is wrong, most urgent first.")
    last_success: Backup | None = strawberry.field(description="The newest completed backup.")
    overdue: bool = strawberry.field(
        description="No backup has completed for LUMBUNG_NO_BACKUP_ALERT_HOURS."
    )
    last_drill: RestoreDrill | None = strawberry.field(description="The newest restore drill.")
    schedules: list[ScheduleHealth] = strawberry.field(
        description="Each schedule: its last success, overdue or not, its last drill, its next run."
    )
    storage: StorageHealth = strawberry.field(description="The backup disk.")

    @classmethod
    def of(cls, health: service.BackupHealth) -> BackupHealth:
        storage = health.storage
        return cls(
            status=HealthStatus(health.status.value),
            problems=health.problems,
            last_success=None if health.last_success is None else Backup.of(health.last_success),
            overdue=health.overdue,
            last_drill=None if health.last_drill is None else RestoreDrill.of(health.last_drill),
            schedules=[
                ScheduleHealth(
                    schedule_id=row.schedule_id,
                    name=row.name,
                    enabled=row.enabled,
                    last_success_at=row.last_success_at,
                    overdue=row.overdue,
                    next_run_at=row.next_run_at,
                    last_drill=None if row.last_drill is None else RestoreDrill.of(row.last_drill),
                )
                for row in health.schedules
            ],
            storage=StorageHealth(
                free_bytes=BigInt(storage.free_bytes),
                total_bytes=BigInt(storage.total_bytes),
                used_by_backups_bytes=BigInt(storage.used_by_backups_bytes),
                growth_bytes_per_day=BigInt(storage.growth_bytes_per_day),
                days_left=storage.days_left,
                next_backup_bytes=BigInt(storage.next_backup_bytes),
                enough_for_next_backup=storage.enough_for_next_backup,
            ),
        )
