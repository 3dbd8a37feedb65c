"""Subscriptions (graphql-transport-ws): live progress of backups and restores, and system
information pushed at an interval."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from schema.context import Info
from schema.enums import JobStatus
from schema.permissions import IsAdmin
from schema.scalars import BigInt
from schema.system import SystemInfo
from server.errors import BadUserInput
from server.events.event import ProgressEvent
from server.events.follow import follow_job
from server.jobs.ids import JobKind, job_id
from server.jobs.states import backup_state, copy_state, drill_state, restore_state

ADMIN: list[type[BasePermission]] = [IsAdmin]
MIN_INTERVAL_SECONDS = 1
MAX_INTERVAL_SECONDS = 3600


@strawberry.type(description="Where a backup or restore stands: one event of its progress.")
class JobProgress:
    job_id: str = strawberry.field(
        description="`backup:<id>`, `restore:<id>`, `drill:<id>` or `offsite:<copy id>`."
    )
    sequence: int = strawberry.field(description="Grows with every event of the job.")
    status: JobStatus = strawberry.field(description="IN_PROGRESS, then COMPLETED or FAILED.")
    phase: str = strawberry.field(
        description="queued, safety-backup, verifying, dumping, restoring, writing, "
        "rolling-back, comparing, cleaning-up, uploading (an offsite copy), running (state "
        "read from the catalog), or done."
    )
    percent: float = strawberry.field(description="Of the current phase, against its estimate.")
    overall_percent: float = strawberry.field(
        description="Of the whole job, for a single progress bar: it never goes back, across "
        "phases and when an estimate proves low (`percent` is of the current phase)."
    )
    bytes_done: BigInt = strawberry.field(
        description="SQL bytes through the pipeline so far (an offsite copy: file bytes)."
    )
    bytes_total: BigInt | None = strawberry.field(
        description="The phase's estimated SQL bytes, never below `bytesDone`; exact in the "
        "final event of a completed job."
    )
    tables_done: int = strawberry.field(description="Tables finished in this phase.")
    tables_total: int = strawberry.field(description="Tables the job covers.")
    current_table: str | None = strawberry.field(description="The table being worked on.")
    elapsed_seconds: float = strawberry.field(description="Since the job started.")
    eta_seconds: float | None = strawberry.field(description="Estimated time left in the phase.")
    message: str | None = strawberry.field(description="What is happening, or why it failed.")
    emitted_at: datetime = strawberry.field(description="When the event was published.")

    @classmethod
    def of(cls, event: ProgressEvent) -> JobProgress:
        return cls(
            job_id=event.job_id,
            sequence=event.sequence,
            status=event.status,
            phase=event.phase,
            percent=event.percent,
            overall_percent=event.overall_percent,
            bytes_done=BigInt(event.bytes_done),
            bytes_total=None if event.bytes_total is None else BigInt(event.bytes_total),
            tables_done=event.tables_done,
            tables_total=event.tables_total,
            current_table=event.current_table,
            elapsed_seconds=event.elapsed_seconds,
            eta_seconds=event.eta_seconds,
            message=event.message,
            emitted_at=datetime.fromtimestamp(event.emitted_at, UTC),
        )


JobId = Annotated[int, strawberry.argument(description="The backup's (or restore log's) id.")]


@strawberry.type(description="Live updates over the graphql-transport-ws protocol.")
class Subscription:
    @strawberry.subscription(
        permission_classes=ADMIN,
        description=(
            "A backup's progress: its current state at once, then events as it moves (a few "
            "per second at most), then the final event, then the end of the stream."
        ),
    )
    async def backup_progress(self, info: Info, id: JobId) -> AsyncGenerator[JobProgress, None]:
        resources = info.context.resources
        state = functools.partial(backup_state, resources.sessions, id)
        await state()  # an unknown id is NOT_FOUND before anything streams
        async for event in follow_job(resources.progress, job_id(JobKind.BACKUP, id), state):
            yield JobProgress.of(event)

    @strawberry.subscription(
        permission_classes=ADMIN,
        description="A restore's progress, like `backupProgress`; `id` is the restore log's id.",
    )
    async def restore_progress(self, info: Info, id: JobId) -> AsyncGenerator[JobProgress, None]:
        resources = info.context.resources
        state = functools.partial(restore_state, resources.sessions, id)
        await state()
        async for event in follow_job(resources.progress, job_id(JobKind.RESTORE, id), state):
            yield JobProgress.of(event)

    @strawberry.subscription(
        permission_classes=ADMIN,
        description="A restore drill's progress, like `backupProgress`; `id` is the drill's id. "
        "Its final event says COMPLETED when the drill passed, FAILED when it failed.",
    )
    async def drill_progress(self, info: Info, id: JobId) -> AsyncGenerator[JobProgress, None]:
        resources = info.context.resources
        state = functools.partial(drill_state, resources.sessions, id)
        await state()
        async for event in follow_job(resources.progress, job_id(JobKind.DRILL, id), state):
            yield JobProgress.of(event)

    @strawberry.subscription(
        permission_classes=ADMIN,
        description=(
            "An offsite copy's progress (uploading, then verifying: reading it back), like "
            "`backupProgress`; `id` is the copy's id (`copies { id }` on a backup). A failed "
            "attempt ends the stream; its retry is followed by subscribing again."
        ),
    )
    async def offsite_copy_progress(
        self,
        info: Info,
        id: Annotated[int, strawberry.argument(description="The copy's id.")],
    ) -> AsyncGenerator[JobProgress, None]:
        resources = info.context.resources
        state = functools.partial(copy_state, resources.sessions, id)
        await state()
        async for event in follow_job(resources.progress, job_id(JobKind.OFFSITE, id), state):
            yield JobProgress.of(event)

    @strawberry.subscription(
        permission_classes=ADMIN, description="System information, pushed every `intervalSeconds`."
    )
    async def system_info(
        self,
        info: Info,
        interval_seconds: Annotated[
            int,
            strawberry.argument(
                description=f"Seconds between pushes, {MIN_INTERVAL_SECONDS} "
                f"to {MAX_INTERVAL_SECONDS}."
            ),
        ] = 5,
    ) -> AsyncGenerator[SystemInfo, None]:
        if not MIN_INTERVAL_SECONDS <= interval_seconds <= MAX_INTERVAL_SECONDS:
            raise BadUserInput(
                f"intervalSeconds must be between {MIN_INTERVAL_SECONDS} "
                f"and {MAX_INTERVAL_SECONDS}."
            )
        while True:
            yield await SystemInfo.now(info.context.resources)
            await asyncio.sleep(interval_seconds)
