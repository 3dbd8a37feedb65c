"""Restore drills on SQLite and MariaDB: a backup restored into a scratch database and proven
against what the database held when it was made, without touching the live one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update

from server.db.enums import DrillStatus
from server.db.models import Backup, RestoreDrill
from tests.backup.faults import reseal
from tests.backup.helpers import backup_and_wait
from tests.drill.helpers import TEST_RESTORE, drill_and_wait
from tests.support.app import Api, make_settings, open_api
from tests.support.asgi import serving
from tests.support.websocket import graphql_socket

BACKUPS_BY_DRILL = """
query ($drill: LastDrill) {
  backups(lastDrill: $drill) { items { id lastDrill { status problems } } }
}
"""
VERIFY = "mutation ($id: Int!) { verifyBackup(id: $id) { status problems } }"


async def live_rows(api: Api) -> list[Any]:
    async with api.resources.engine.connect() as connection:
        return list(
            (await connection.execute(text('SELECT id, name FROM "User" ORDER BY id'))).all()
            if api.resources.adapter.dialect == "sqlite"
            else (await connection.execute(text("SELECT id, name FROM `User` ORDER BY id"))).all()
        )


async def scratch_leftovers(api: Api) -> list[str]:
    """Scratch databases (MariaDB) or scratch folders (SQLite) still there."""
    if api.resources.adapter.dialect == "sqlite":
        folder = Path(api.resources.adapter.path).parent  # type: ignore[attr-defined]
        return [p.name for p in folder.glob("lumbung-drill-*")]
    async with api.resources.engine.connect() as connection:
        names = await connection.execute(text("SHOW DATABASES LIKE '%lumbung_drill%'"))
        return [str(row[0]) for row in names]


async def test_a_drill_restores_a_backup_into_a_scratch_database_and_proves_every_table(
    api: Api,
) -> None:
    backup = await backup_and_wait(api, backupType="FULL")
    before = await live_rows(api)
    drill = await drill_and_wait(api, backup["id"])
    assert drill["status"] == "PASSED", drill
    assert drill["problems"] == []
    assert drill["unproven"] == []
    assert set(drill["tables"]) == {"User", "Role", "Permission", "Message"}
    # How long this backup takes to restore, shown for people too.
    assert 0 < drill["durationSeconds"] <= drill["totalSeconds"]
    assert drill["restoresIn"].endswith(" s")
    data = await api.query(
        "query ($id: Int!) { backup(id: $id) { lastDrill { id status durationSeconds } } }",
        {"id": backup["id"]},
    )
    assert data["backup"]["lastDrill"]["id"] == drill["id"]
    assert await live_rows(api) == before
    assert await scratch_leftovers(api) == []


async def test_a_backup_rewritten_with_one_row_changed_passes_verify_but_fails_its_drill(
    api: Api,
) -> None:
    """What a buggy dump tool or a wrong character set would write: the file agrees with every
    checksum it carries, and only the database's own evidence can tell."""
    backup = await backup_and_wait(api, backupType="FULL")
    await reseal(api, backup, "User", lambda sql: sql.replace(b"Dewi Lestari", b"Dewi Lestary"))
    verified = (await api.query(VERIFY, {"id": backup["id"]}))["verifyBackup"]
    assert verified == {"status": "OK", "problems": []}
    drill = await drill_and_wait(api, backup["id"])
    assert drill["status"] == "FAILED"
    assert len(drill["problems"]) == 1, drill["problems"]
    assert drill["problems"][0].startswith("Table `User`: its rows differ from what the database")
    assert await scratch_leftovers(api) == []


async def test_a_drill_finds_a_table_whose_definition_the_file_changed(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="FULL")
    dialect = api.resources.adapter.dialect
    column = b"description VARCHAR(191)" if dialect == "sqlite" else b"`description` varchar(191)"
    wider = column.replace(b"191", b"250")

    def widen(sql: bytes) -> bytes:
        assert column in sql
        return sql.replace(column, wider, 1)

    await reseal(api, backup, "Role", widen)
    drill = await drill_and_wait(api, backup["id"])
    assert drill["status"] == "FAILED"
    assert drill["problems"] == [
        "Table `Role`: its columns or indexes differ from the table's when the backup was made."
    ]


async def test_the_history_can_be_filtered_by_the_last_drill(api: Api) -> None:
    good = await backup_and_wait(api, backupType="FULL")
    bad = await backup_and_wait(api, backupType="FULL")
    never = await backup_and_wait(api, backupType="PARTIAL")
    await reseal(api, bad, "User", lambda sql: sql.replace(b"Dewi Lestari", b"Dewi Lestary"))
    assert (await drill_and_wait(api, good["id"]))["status"] == "PASSED"
    assert (await drill_and_wait(api, bad["id"]))["status"] == "FAILED"

    async def ids(drill: str) -> list[int]:
        items = (await api.query(BACKUPS_BY_DRILL, {"drill": drill}))["backups"]["items"]
        return [item["id"] for item in items]

    assert await ids("PASSED") == [good["id"]]
    assert await ids("FAILED") == [bad["id"]]
    assert await ids("NEVER") == [never["id"]]
    # A newer drill decides: the good backup drilled again, still PASSED, counted once.
    assert (await drill_and_wait(api, good["id"]))["status"] == "PASSED"
    assert await ids("PASSED") == [good["id"]]


async def test_a_backup_without_evidence_is_drilled_and_says_what_it_could_not_prove(
    database_url: str, tmp_path: Path
) -> None:
    async with open_api(make_settings(database_url, tmp_path, backup_evidence=False)) as api:
        backup = await backup_and_wait(api, backupType="FULL")
        drill = await drill_and_wait(api, backup["id"])
    assert drill["status"] == "PASSED"
    assert len(drill["unproven"]) == 1
    assert drill["unproven"][0].startswith("No evidence was recorded with this backup")


async def test_only_a_completed_backup_with_table_definitions_can_be_drilled(api: Api) -> None:
    data_only = await backup_and_wait(api, backupType="FULL", includeSchema=False)
    error = await api.error(TEST_RESTORE, {"id": data_only["id"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "data-only" in error["message"]
    error = await api.error(TEST_RESTORE, {"id": 999})
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_a_drill_waits_its_turn_like_every_job(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="FULL")
    # A drill is running (its row IN_PROGRESS, the job lock held).
    async with api.resources.sessions() as session:
        running = RestoreDrill(
            backup_id=backup["id"], status=DrillStatus.IN_PROGRESS, requested_by=1
        )
        session.add(running)
        await session.commit()
    lock = await api.resources.lock.acquire()
    try:
        error = await api.error(TEST_RESTORE, {"id": backup["id"]})
        assert error["extensions"]["code"] == "CONFLICT"
        assert (
            f"restore drill #{running.id} of backup #{backup['id']} is running" in error["message"]
        )
        error = await api.error(
            "mutation { createBackup(input: {backupType: FULL}) { backup { id } } }"
        )
        assert f"restore drill #{running.id}" in error["message"]
    finally:
        await lock.aclose()


async def test_a_drills_progress_is_followed_to_its_end_over_a_websocket(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="FULL")
    async with serving(api.app) as url, graphql_socket(url) as socket:
        assert (await socket.init({"Authorization": f"Bearer {api.token()}"}))[
            "type"
        ] == "connection_ack"
        started = await api.query(TEST_RESTORE, {"id": backup["id"]})
        drill_id = started["testRestore"]["drill"]["id"]
        operation = await socket.subscribe(
            "subscription ($id: Int!) { drillProgress(id: $id) { jobId status phase message } }",
            {"id": drill_id},
        )
        events = [payload["data"]["drillProgress"] async for payload in socket.stream(operation)]
    assert {event["jobId"] for event in events} == {f"drill:{drill_id}"}
    final = events[-1]
    assert final["status"] == "COMPLETED"
    assert final["phase"] == "done"
    assert final["message"].startswith(f"Backup {backup['filename']} restores in ")


async def test_a_follower_who_comes_after_the_end_reads_what_the_drill_said(
    tmp_path: Path,
) -> None:
    # Another process on the same catalog never saw the drill's events: it reads the row.
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", tmp_path)
    async with open_api(settings) as api:
        backup = await backup_and_wait(api, backupType="FULL")
        drill = await drill_and_wait(api, backup["id"])
        async with (
            open_api(settings) as other,
            serving(other.app) as url,
            graphql_socket(url) as socket,
        ):
            await socket.init({"Authorization": f"Bearer {other.token()}"})
            operation = await socket.subscribe(
                "subscription ($id: Int!) { drillProgress(id: $id) { status message } }",
                {"id": drill["id"]},
            )
            events = [
                payload["data"]["drillProgress"] async for payload in socket.stream(operation)
            ]
    assert events == [
        {
            "status": "COMPLETED",
            "message": f"Backup {backup['filename']} restores in {drill['restoresIn']} and "
            "matches the database as it was.",
        }
    ]


async def test_a_backup_that_does_not_restore_fails_its_drill_and_leaves_nothing_behind(
    api: Api,
) -> None:
    backup = await backup_and_wait(api, backupType="FULL")
    before = await live_rows(api)
    await reseal(api, backup, "Role", lambda sql: sql + b"THIS IS NOT SQL;\n")
    drill = await drill_and_wait(api, backup["id"])
    assert drill["status"] == "FAILED"
    [problem] = drill["problems"]
    assert problem.startswith("The restore into the scratch database failed: ")
    assert drill["durationSeconds"] is None
    assert await live_rows(api) == before
    assert await scratch_leftovers(api) == []


DELETE = """
mutation ($id: Int!, $confirm: String!) { deleteBackup(id: $id, confirm: $confirm) { message } }
"""
PREVIEW = """
query ($id: Int!) {
  retentionPreview(scheduleId: $id) { items { backup { id } keep reasons details } }
}
"""
CREATE_SCHEDULE = """
mutation ($input: CreateScheduleInput!) { createSchedule(input: $input) { schedule { id } } }
"""


async def test_a_backup_a_running_drill_uses_is_neither_deleted_nor_rotated(api: Api) -> None:
    created = await api.query(
        CREATE_SCHEDULE,
        {
            "input": {
                "name": "nightly",
                "timing": {"frequency": "DAILY"},
                "backup": {"backupType": "PARTIAL"},
            }
        },
    )
    schedule_id = created["createSchedule"]["schedule"]["id"]
    started = await api.resources.schedules.run_now(schedule_id)
    await started.task
    async with api.resources.sessions() as session:
        backup = (
            await session.scalars(select(Backup).where(Backup.schedule_id == schedule_id))
        ).one()
        # A drill of it running in another process.
        drill = RestoreDrill(
            backup_id=backup.id,
            status=DrillStatus.IN_PROGRESS,
            tables=backup.tables,
            requested_by=1,
        )
        session.add(drill)
        await session.commit()
    error = await api.error(DELETE, {"id": backup.id, "confirm": backup.filename})
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["message"] == (
        f"Backup #{backup.id} is in use by restore drill #{drill.id}; wait for it to finish."
    )
    (item,) = (await api.query(PREVIEW, {"id": schedule_id}))["retentionPreview"]["items"]
    assert "IN_USE" in item["reasons"]
    assert f"in use by restore drill #{drill.id}" in item["details"]
    async with api.resources.sessions() as session:
        await session.execute(
            update(RestoreDrill)
            .where(RestoreDrill.id == drill.id)
            .values(status=DrillStatus.PASSED)
        )
        await session.commit()
    await api.query(DELETE, {"id": backup.id, "confirm": backup.filename})
