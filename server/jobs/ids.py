"""Job ids: `backup:12` names backup #12's job, `restore:7` restore log #7's, `drill:3` restore
drill #3's, `offsite:3` the copy (BackupCopy row) #3's, `schedule-run:3` schedule run #3's.
Progress events, subscriptions and task names all use them."""

from __future__ import annotations

import enum


class JobKind(enum.Enum):
    BACKUP = "backup"
    RESTORE = "restore"
    DRILL = "drill"
    OFFSITE = "offsite"
    SCHEDULE_RUN = "schedule-run"


def job_id(kind: JobKind, row_id: int) -> str:
    return f"{kind.value}:{row_id}"
