"""Restore drills on a real MariaDB: the scratch database and its grants, a database Lumbung
did not make, every kind of object, evidence taken while the application writes, and a drill
cut off by the server's death."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from server.backup.adapters.mysql_scratch import MARKER
from server.db.enums import DrillStatus
from server.db.models import Backup, RestoreDrill
from tests.backup.conftest import checksums, fill_bulk
from tests.backup.helpers import backup_and_wait
from tests.drill.helpers import TEST_RESTORE, drill_and_wait
from tests.support.app import Api, make_settings, open_api
from tests.support.mariadb import MariaDBServer


def _name(url: str) -> str:
    return str(make_url(url).database)


async def _databases(api: Api) -> set[str]:
    async with api.resources.engine.connect() as connection:
        return {str(row[0]) for row in await connection.execute(text("SHOW DATABASES"))}


async def test_every_kind_of_object_comes_back_from_a_drill(rich: Api) -> None:
    """Views, a trigger, a routine, a table named with a backtick and a row over 16 MiB."""
    backup = await backup_and_wait(rich, backupType="FULL")
    before = await checksums(rich.resources.engine)
    drill = await drill_and_wait(rich, backup["id"])
    assert drill["status"] == "PASSED", drill
    assert drill["unproven"] == []
    assert "a`b" in drill["tables"]
    assert await checksums(rich.resources.engine) == before
    assert not any("lumbung_drill" in name for name in await _databases(rich))


async def test_an_account_that_may_not_create_the_scratch_database_is_told_the_grant(
    mariadb: MariaDBServer, database: str, tmp_path: Path
) -> None:
    name = _name(database)
    user = f"limited_{os.getpid()}"
    mariadb.root_sql(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY 'limited-pw';\n"
        f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'%';\n"
    )
    url = make_url(database).set(username=user, password="limited-pw")
    try:
        settings = make_settings(url.render_as_string(hide_password=False), tmp_path)
        async with open_api(settings) as api:
            backup = await backup_and_wait(api, backupType="FULL")
            assert backup["status"] == "COMPLETED"
            error = await api.error(TEST_RESTORE, {"id": backup["id"]})
            assert error["extensions"]["code"] == "BAD_USER_INPUT"
            assert (
                f"GRANT ALL PRIVILEGES ON `{name}_lumbung_drill`.* TO '{user}'@'%';"
                in error["message"]
            )
            assert "The live database was not touched." in error["message"]
            # The attempt is recorded as the backup's last drill.
            data = await api.query(
                "query ($id: Int!) { backup(id: $id) { lastDrill { status problems } } }",
                {"id": backup["id"]},
            )
            assert data["backup"]["lastDrill"]["status"] == "FAILED"
            assert data["backup"]["lastDrill"]["problems"] == [error["message"]]
    finally:
        mariadb.root_sql(f"DROP USER '{user}'@'%';")


async def test_a_drill_never_restores_into_a_database_lumbung_did_not_make(
    mariadb: MariaDBServer, database: str, tmp_path: Path
) -> None:
    scratch = f"{_name(database)}_lumbung_drill"
    mariadb.root_sql(f"CREATE DATABASE `{scratch}`; CREATE TABLE `{scratch}`.keep (x INT);")
    mariadb.root_sql("INSERT INTO keep VALUES (42);", scratch)
    try:
        async with open_api(make_settings(database, tmp_path)) as api:
            backup = await backup_and_wait(api, backupType="FULL")
            error = await api.error(TEST_RESTORE, {"id": backup["id"]})
        assert error["extensions"]["code"] == "CONFLICT"
        assert "was not made by Lumbung" in error["message"]
        assert mariadb.root_sql("SELECT x FROM keep;", scratch).strip() == "42"
    finally:
        mariadb.drop_database(scratch)


async def test_the_scratch_database_may_not_be_the_live_one(database: str, tmp_path: Path) -> None:
    settings = make_settings(database, tmp_path, drill_database=_name(database))
    async with open_api(settings) as api:
        backup = await backup_and_wait(api, backupType="FULL")
        error = await api.error(TEST_RESTORE, {"id": backup["id"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "names the live database" in error["message"]


async def test_evidence_is_taken_in_the_dumps_own_snapshot_while_the_application_writes(
    database: str, tmp_path: Path
) -> None:
    """Rows change all through the backup. Evidence from any other snapshot than the dump's
    would disagree with the file, and the drill would fail."""
    async with open_api(make_settings(database, tmp_path)) as api:
        await fill_bulk(api.resources.engine, rows=20_000)
        writer_engine = create_async_engine(database)
        writes = 0
        stop, busy = asyncio.Event(), asyncio.Event()

        async def write() -> None:
            nonlocal writes
            async with writer_engine.connect() as connection:
                while not stop.is_set():
                    await connection.execute(
                        text("UPDATE `Bulk` SET payload = UUID() WHERE id = :id"),
                        {"id": 1 + writes % 20_000},
                    )
                    await connection.execute(
                        text("UPDATE `User` SET name = UUID() WHERE id = :id"),
                        {"id": 1 + writes % 6},
                    )
                    await connection.commit()
                    writes += 1
                    if writes == 20:
                        busy.set()

        writer = asyncio.create_task(write())
        try:
            await busy.wait()  # the application is busy before the backup starts
            during = writes
            backup = await backup_and_wait(api, backupType="FULL")
            during = writes - during
        finally:
            stop.set()
            await writer
            await writer_engine.dispose()
        assert during > 20, "the application did not write during the backup"
        async with api.resources.sessions() as session:
            row = await session.get(Backup, backup["id"])
            assert row is not None and row.evidence is not None
            assert row.evidence["missing"] is None
            assert row.evidence["lockMs"] < 1000
        drill = await drill_and_wait(api, backup["id"])
    assert drill["status"] == "PASSED", drill
    assert drill["unproven"] == []


async def test_a_long_transaction_costs_the_evidence_never_the_backup(
    database: str, tmp_path: Path
) -> None:
    async with open_api(make_settings(database, tmp_path)) as api:
        holder = create_async_engine(database)
        try:
            async with holder.connect() as connection:
                # An open transaction that has written to `User` holds it past the lock's wait.
                await connection.execute(text("UPDATE `User` SET name = 'held' WHERE id = 1"))
                backup = await backup_and_wait(api, backupType="FULL")
                await connection.rollback()
        finally:
            await holder.dispose()
        assert backup["status"] == "COMPLETED"
        drill = await drill_and_wait(api, backup["id"])
    assert drill["status"] == "PASSED"
    assert len(drill["unproven"]) == 1
    assert drill["unproven"][0].startswith(
        "No checksums were recorded: the dumped tables could not be held still for a moment"
    )


@pytest.mark.parametrize("leftover", [True, False])
async def test_a_drill_cut_off_by_the_servers_death_is_closed_at_the_next_start(
    mariadb: MariaDBServer, database: str, tmp_path: Path, leftover: bool
) -> None:
    scratch = f"{_name(database)}_lumbung_drill"
    settings = make_settings(database, tmp_path)
    async with open_api(settings) as api:
        backup = await backup_and_wait(api, backupType="FULL")
        async with api.resources.sessions() as session:
            drill = RestoreDrill(
                backup_id=backup["id"], status=DrillStatus.IN_PROGRESS, requested_by=1
            )
            session.add(drill)
            await session.commit()
    if leftover:  # the dead drill's scratch database, with Lumbung's mark
        mariadb.root_sql(
            f"CREATE DATABASE `{scratch}`; CREATE TABLE `{scratch}`.`{MARKER}` (x INT);"
        )
    async with open_api(settings) as api:
        async with api.resources.sessions() as session:
            row = await session.get(RestoreDrill, drill.id)
            assert row is not None
        assert row.status is DrillStatus.FAILED
        assert row.problems[0].startswith("Interrupted")
        assert scratch not in await _databases(api)
        # The lock is free again: a new drill runs.
        assert (await drill_and_wait(api, backup["id"]))["status"] == "PASSED"
