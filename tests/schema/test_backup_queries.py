"""The backup history through GraphQL, on SQLite and on MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, event

from server.db import demo
from server.db.models import Backup
from tests.support.app import Api
from tests.support.factories import EPOCH, add_backups, add_restore_logs

LIST = """
query ($page: Int!, $limit: Int!, $type: BackupType, $status: JobStatus) {
  backups(page: $page, limit: $limit, backupType: $type, status: $status) {
    total page limit pageCount
    items { id filename backupType status fileSize createdAt }
  }
}
"""

NESTED = """
query ($limit: Int!) {
  backups(limit: $limit) {
    items {
      id filename fileSize fileSizeHuman status
      creator { id name email }
      restoreLogs { id status restoredBy restorer { name } }
    }
  }
}
"""


@contextmanager
def count_statements(api: Api) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = api.resources.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_an_empty_history_is_an_empty_first_page(api: Api) -> None:
    data = await api.query(LIST, {"page": 1, "limit": 10})
    assert data["backups"] == {"total": 0, "page": 1, "limit": 10, "pageCount": 0, "items": []}


async def test_backups_come_newest_first_in_pages(api: Api) -> None:
    ids = await add_backups(api.resources, 25)
    first = (await api.query(LIST, {"page": 1, "limit": 10}))["backups"]
    third = (await api.query(LIST, {"page": 3, "limit": 10}))["backups"]
    assert (first["total"], first["pageCount"]) == (25, 3)
    assert [item["id"] for item in first["items"]] == list(reversed(ids))[:10]
    assert [item["id"] for item in third["items"]] == list(reversed(ids))[20:]
    assert first["items"][0]["createdAt"] == "2024-01-15T10:54:00+00:00"


async def test_limit_defaults_to_ten(api: Api) -> None:
    await add_backups(api.resources, 12)
    data = await api.query("{ backups { limit items { id } } }")
    assert data["backups"]["limit"] == 10
    assert len(data["backups"]["items"]) == 10


async def test_backups_filter_by_type_and_status(api: Api) -> None:
    await add_backups(api.resources, 3)
    await add_backups(api.resources, 2, backup_type="partial", status="failed")
    partial = (await api.query(LIST, {"page": 1, "limit": 10, "type": "PARTIAL"}))["backups"]
    failed_full = (
        await api.query(LIST, {"page": 1, "limit": 10, "type": "FULL", "status": "FAILED"})
    )["backups"]
    assert partial["total"] == 2
    assert {item["backupType"] for item in partial["items"]} == {"PARTIAL"}
    assert {item["status"] for item in partial["items"]} == {"FAILED"}
    assert failed_full["total"] == 0


FILTERED = """
query ($by: Int, $from: DateTime, $until: DateTime, $min: BigInt, $max: BigInt) {
  backups(createdBy: $by, createdFrom: $from, createdUntil: $until, minSize: $min, maxSize: $max,
          limit: 100) {
    total items { id }
  }
}
"""


async def test_backups_filter_by_creator_date_and_size(api: Api) -> None:
    # Six backups a minute apart from EPOCH, made by users 1, 2, 3, 1, 2, 3, sized 1 MB + n.
    ids = await add_backups(api.resources, 6, file_size=0)
    async with api.resources.sessions() as session:
        for n, backup_id in enumerate(ids):
            row = await session.get(Backup, backup_id)
            assert row is not None
            row.file_size = 1_000_000 + n * 1000
        await session.commit()

    async def found(**variables: Any) -> list[int]:
        data = (await api.query(FILTERED, variables))["backups"]
        assert data["total"] == len(data["items"])
        return sorted(item["id"] for item in data["items"])

    assert await found(by=1) == [ids[0], ids[3]]
    # From included, until excluded; an offset is honoured, no offset is UTC.
    start = EPOCH + timedelta(minutes=1)
    until = EPOCH + timedelta(minutes=3)
    assert await found(**{"from": start.isoformat(), "until": until.isoformat()}) == ids[1:3]
    assert await found(**{"from": "2024-01-15T10:32:00"}) == ids[2:]
    assert await found(**{"until": "2024-01-15T12:31:00+02:00"}) == ids[:1]
    assert await found(min=1_002_000, max=1_004_000) == ids[2:5]
    assert await found(by=2, min=1_002_000) == [ids[4]]
    assert await found() == ids

    for variables in (
        {"min": 5, "max": 4},
        {"from": until.isoformat(), "until": start.isoformat()},
    ):
        error = await api.error(FILTERED, variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "no backup could match" in error["message"]


async def test_sizes_beyond_two_gib_are_exact(api: Api) -> None:
    size = 5 * 2**30 + 12345  # 5 GiB and change: does not fit a 32-bit Int
    [backup_id] = await add_backups(api.resources, 1, file_size=size)
    data = await api.query(
        "query ($id: Int!) { backup(id: $id) { fileSize fileSizeHuman } }", {"id": backup_id}
    )
    assert data["backup"] == {"fileSize": size, "fileSizeHuman": "5.4 GB"}


async def test_one_backup_by_id_with_every_field(api: Api) -> None:
    [backup_id] = await add_backups(
        api.resources, 1, description="before the migration", created_by=2
    )
    data = await api.query(
        """query ($id: Int!) { backup(id: $id) {
            id filename backupType tables includeData includeSchema description fileSize
            status compression checksum errorMessage durationSeconds origin createdAt
            updatedAt completedAt createdBy creator { id name } restoreLogs { id } } }""",
        {"id": backup_id},
    )
    backup = data["backup"]
    assert backup["filename"] == "backup_full_2024-01-15T10-30-00.sql.zst"
    assert backup["tables"] == ["User", "Role", "Permission", "Message"]
    assert backup["description"] == "before the migration"
    assert (backup["compression"], backup["origin"], backup["durationSeconds"]) == (
        "ZSTD",
        "MANUAL",
        3.0,
    )
    assert backup["creator"] == {"id": 2, "name": "Siti Rahmawati"}
    assert backup["completedAt"] == "2024-01-15T10:30:03+00:00"
    assert backup["restoreLogs"] == []


async def test_an_unknown_backup_id_is_not_found(api: Api) -> None:
    error = await api.error("{ backup(id: 424242) { id } }")
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "424242" in error["message"]


async def test_a_deleted_creator_leaves_the_history_intact(api: Api) -> None:
    [backup_id] = await add_backups(api.resources, 1, created_by=6)
    async with api.resources.engine.begin() as connection:
        await connection.execute(delete(demo.message).where(demo.message.c.userId == 6))
        await connection.execute(delete(demo.user).where(demo.user.c.id == 6))
    data = await api.query(
        "query ($id: Int!) { backup(id: $id) { createdBy creator { id } } }", {"id": backup_id}
    )
    assert data["backup"] == {"createdBy": 6, "creator": None}


async def test_restore_logs_of_a_backup_newest_first(api: Api) -> None:
    [backup_id, other] = await add_backups(api.resources, 2)
    ids = await add_restore_logs(api.resources, backup_id, 3)
    await add_restore_logs(
        api.resources,
        other,
        1,
        status="failed",
        error_message="disk full",
        created_at=EPOCH + timedelta(days=1),
    )
    data = await api.query(
        """query ($id: Int!) { restoreLogs(backupId: $id) { total items { id backupId status
           restorer { name } backup { filename } } } }""",
        {"id": backup_id},
    )
    logs = data["restoreLogs"]
    assert logs["total"] == 3
    assert [item["id"] for item in logs["items"]] == list(reversed(ids))
    assert logs["items"][0]["restorer"] == {"name": "Siti Rahmawati"}
    everything = await api.query("{ restoreLogs { total items { status errorMessage } } }")
    assert everything["restoreLogs"]["total"] == 4
    assert everything["restoreLogs"]["items"][0] == {
        "status": "FAILED",
        "errorMessage": "disk full",
    }


async def test_restore_logs_of_an_unknown_backup_are_not_found(api: Api) -> None:
    error = await api.error("{ restoreLogs(backupId: 999) { total } }")
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_a_hundred_backups_with_creators_and_restores_cost_a_constant_number_of_statements(
    api: Api,
) -> None:
    ids = await add_backups(api.resources, 100)
    for backup_id in ids[::7]:
        await add_restore_logs(api.resources, backup_id, 2)

    with count_statements(api) as few:
        small = await api.query(NESTED, {"limit": 5})
    with count_statements(api) as many:
        large = await api.query(NESTED, {"limit": 100})

    assert len(small["backups"]["items"]) == 5
    assert len(large["backups"]["items"]) == 100
    # count + page + one batch of users + one batch of restore logs (+ their restorers)
    selects_many = [s for s in many if s.lstrip().upper().startswith("SELECT")]
    selects_few = [s for s in few if s.lstrip().upper().startswith("SELECT")]
    assert len(selects_many) == len(selects_few) <= 5
    restored = [item for item in large["backups"]["items"] if item["restoreLogs"]]
    assert len(restored) == len(ids[::7])
    assert all(item["creator"] is not None for item in large["backups"]["items"])
