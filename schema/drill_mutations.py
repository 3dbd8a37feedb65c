"""Mutations of restore drills: testRestore."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from schema.context import Info
from schema.permissions import IsAdmin
from schema.types import RestoreDrill

ADMIN: list[type[BasePermission]] = [IsAdmin]


@strawberry.type(description="A restore drill that has started.")
class TestRestorePayload:
    message: str = strawberry.field(description="What happened, for people.")
    drill: RestoreDrill = strawberry.field(
        description="The drill, IN_PROGRESS: follow it with `drillProgress(id)`, or read the "
        "backup's `lastDrill`."
    )


@strawberry.type(description="Change things: restore drills.")
class DrillMutation:
    @strawberry.mutation(
        permission_classes=ADMIN,
        description=(
            "Prove a backup: restore it into a scratch database that Lumbung creates and drops "
            "(never the live one), then compare it table by table with what the database held "
            "when the backup was made. Returns at once with the drill IN_PROGRESS; a drill is "
            "a job like a backup or a restore (one at a time)."
        ),
    )
    async def test_restore(
        self,
        info: Info,
        backup_id: Annotated[int, strawberry.argument(description="The backup to drill.")],
    ) -> TestRestorePayload:
        principal = info.context.principal
        assert principal is not None
        started = await info.context.resources.drills.start(backup_id, actor=principal.actor_id)
        return TestRestorePayload(
            message=f"Restore drill of backup #{backup_id} started.",
            drill=RestoreDrill.of(started.row),
        )
