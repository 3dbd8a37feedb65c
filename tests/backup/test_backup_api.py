"""Backups and restores through the API, on SQLite and on MariaDB."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from server.db.models import Backup, RestoreLog
from server.recovery import ROLLBACK_DESCRIPTION
from tests.backup.faults import flip_bit
from tests.backup.helpers import CREATE, RESTORE, RESTORE_LOGS, backup_and_wait, restore_and_wait
from tests.support.app import Api, make_settings, open_api

VERIFY = "mutation ($id: Int!) { verifyBackup(id: $id) { status problems sectionsChecked } }"
DELETE = """mutation ($id: Int!, $confirm: String!) {
  deleteBackup(id: $id, confirm: $confirm) { message id filename removedFiles } }"""


async def _names(api: Api) -> list[str]:
    async with api.resources.engine.connect() as connection:
        rows = await connection.execute(
            text(
                'SELECT name FROM "User" ORDER BY id'
                if connection.dialect.name == "sqlite"
                else "SELECT name FROM `User` ORDER BY id"
            )
        )
        return [row[0] for row in rows]


async def _rename_everyone(api: Api, name: str) -> None:
    async with api.resources.engine.begin() as connection:
        quoted = '"User"' if connection.dialect.name == "sqlite" else "`User`"
        await connection.execute(text(f"UPDATE {quoted} SET name = :n"), {"n": name})


@pytest.mark.parametrize(
    ("input_", "tables"),
    [
        ({"backupType": "FULL"}, ["Message", "Permission", "Role", "User"]),
        ({"backupType": "PARTIAL"}, ["Permission", "Role", "User"]),
        ({"backupType": "SELECTIVE", "tables": ["User", "Message"]}, ["Message", "User"]),
        ({"backupType": "SELECTIVE", "tables": ["User"], "compression": "GZIP"}, ["User"]),
        ({"backupType": "SELECTIVE", "tables": ["User"], "compression": "NONE"}, ["User"]),
        ({"backupType": "SELECTIVE", "tables": ["User"], "includeSchema": False}, ["User"]),
    ],
)
async def test_each_kind_of_backup_round_trips(
    api: Api, input_: dict[str, Any], tables: list[str]
) -> None:
    names = await _names(api)
    backup = await backup_and_wait(api, **input_)
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    assert sorted(backup["tables"]) == tables
    assert backup["checksum"] and len(backup["checksum"]) == 64
    suffix = {"GZIP": ".sql.gz", "NONE": ".sql"}.get(input_.get("compression", ""), ".sql.zst")
    assert backup["filename"].startswith(f"backup_{input_['backupType'].lower()}_")
    assert backup["filename"].endswith(suffix)
    path = api.settings.backup_dir / backup["filename"]
    assert path.stat().st_size == backup["fileSize"]
    manifest = json.loads(
        (api.settings.backup_dir / (backup["filename"] + ".manifest.json")).read_text()
    )
    assert manifest["sha256"] == backup["checksum"]

    await _rename_everyone(api, "changed")
    log = await restore_and_wait(api, backup)
    assert log["status"] == "COMPLETED", log["errorMessage"]
    assert await _names(api) == names


async def test_a_restore_takes_a_safety_backup_first_shown_in_the_history(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="PARTIAL")
    await _rename_everyone(api, "before the restore")
    log = await restore_and_wait(api, backup)
    safety_id = log["safetyBackupId"]
    assert safety_id is not None
    history = await api.query("{ backups(limit: 10) { items { id origin status backupType } } }")
    safety = next(b for b in history["backups"]["items"] if b["id"] == safety_id)
    assert safety == {
        "id": safety_id,
        "origin": "SAFETY",
        "status": "COMPLETED",
        "backupType": "SELECTIVE",
    }
    # The safety backup holds what was overwritten: restoring it brings that back.
    rows = await api.query(
        "query ($id: Int!) { backup(id: $id) { id filename } }", {"id": safety_id}
    )
    await restore_and_wait(api, rows["backup"], safety=False)
    assert set(await _names(api)) == {"before the restore"}


async def test_a_restore_of_some_tables_leaves_the_others(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="FULL")
    await _rename_everyone(api, "changed")
    log = await restore_and_wait(api, backup, tables=["Role"], safety=False)
    assert log["status"] == "COMPLETED"
    assert log["tables"] == ["Role"]
    assert set(await _names(api)) == {"changed"}


async def test_restore_needs_the_exact_filename_as_confirmation(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="PARTIAL")
    for confirm in ["", "yes", backup["filename"].upper(), backup["filename"] + " "]:
        error = await api.error(RESTORE, {"id": backup["id"], "confirm": confirm})
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert backup["filename"] in error["message"]
    assert (await api.query("{ restoreLogs { total } }"))["restoreLogs"]["total"] == 0


async def test_restore_refuses_tables_not_in_the_backup_and_the_catalog(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="PARTIAL")
    error = await api.error(
        RESTORE, {"id": backup["id"], "confirm": backup["filename"], "tables": ["Message"]}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'Message'" in error["message"]
    full = await backup_and_wait(api, backupType="FULL", includeCatalog=True)
    error = await api.error(
        RESTORE, {"id": full["id"], "confirm": full["filename"], "tables": ["Backup"]}
    )
    assert "never overwritten" in error["message"]


async def test_a_full_backup_leaves_the_catalog_out_unless_asked(api: Api) -> None:
    plain = await backup_and_wait(api, backupType="FULL")
    assert "Backup" not in plain["tables"]
    with_catalog = await backup_and_wait(api, backupType="FULL", includeCatalog=True)
    assert {"Backup", "RestoreLog", "CacheLog"} <= set(with_catalog["tables"])
    # Restoring it still never touches the catalog: the history survives.
    log = await restore_and_wait(api, with_catalog, safety=False)
    assert log["status"] == "COMPLETED"
    assert (await api.query("{ backups { total } }"))["backups"]["total"] == 2


async def test_verify_reports_ok_corrupt_and_missing(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="FULL")
    ok = (await api.query(VERIFY, {"id": backup["id"]}))["verifyBackup"]
    assert ok["status"] == "OK" and ok["problems"] == [] and ok["sectionsChecked"] >= 5
    path = api.settings.backup_dir / backup["filename"]
    flip_bit(path, path.stat().st_size - 10)
    corrupt = (await api.query(VERIFY, {"id": backup["id"]}))["verifyBackup"]
    assert corrupt["status"] == "CORRUPT"
    assert any("checksum mismatch" in problem for problem in corrupt["problems"])
    path.unlink()
    missing = (await api.query(VERIFY, {"id": backup["id"]}))["verifyBackup"]
    assert missing["status"] == "MISSING"


LAST_CHECK = """query ($id: Int!) { backup(id: $id) { verifiedAt verifyStatus }
  backups { items { id verifyStatus } } }"""
VERIFY_KEPT = """mutation ($id: Int!) {
  verifyBackup(id: $id) { status backup { verifiedAt verifyStatus } } }"""


async def test_the_last_verification_is_kept_on_the_backup(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="PARTIAL")
    never = await api.query(LAST_CHECK, {"id": backup["id"]})
    assert never["backup"] == {"verifiedAt": None, "verifyStatus": None}

    ok = (await api.query(VERIFY_KEPT, {"id": backup["id"]}))["verifyBackup"]
    assert ok["status"] == "OK" and ok["backup"]["verifyStatus"] == "OK"
    kept = await api.query(LAST_CHECK, {"id": backup["id"]})
    assert kept["backup"] == ok["backup"] and kept["backup"]["verifiedAt"]
    assert {"id": backup["id"], "verifyStatus": "OK"} in kept["backups"]["items"]

    path = api.settings.backup_dir / backup["filename"]
    flip_bit(path, path.stat().st_size // 2)
    await api.query(VERIFY_KEPT, {"id": backup["id"]})
    damaged = (await api.query(LAST_CHECK, {"id": backup["id"]}))["backup"]
    assert damaged["verifyStatus"] == "CORRUPT"
    assert damaged["verifiedAt"] >= kept["backup"]["verifiedAt"]


async def test_delete_needs_confirmation_and_removes_file_manifest_and_row(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="PARTIAL")
    error = await api.error(DELETE, {"id": backup["id"], "confirm": "nope"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    deleted = (await api.query(DELETE, {"id": backup["id"], "confirm": backup["filename"]}))[
        "deleteBackup"
    ]
    assert deleted["removedFiles"] == [backup["filename"], backup["filename"] + ".manifest.json"]
    assert list(api.settings.backup_dir.iterdir()) == []
    error = await api.error("query ($id: Int!) { backup(id: $id) { id } }", {"id": backup["id"]})
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_a_planted_symlink_is_never_followed(api: Api, tmp_path: Any) -> None:
    backup = await backup_and_wait(api, backupType="PARTIAL")
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    path = api.settings.backup_dir / backup["filename"]
    path.unlink()
    path.symlink_to(outside)
    error = await api.error(RESTORE, {"id": backup["id"], "confirm": backup["filename"]})
    assert error["extensions"]["code"] == "NOT_FOUND"
    await api.query(DELETE, {"id": backup["id"], "confirm": backup["filename"]})
    assert outside.read_text() == "precious"  # the link went, not its target


@pytest.mark.parametrize(
    "input_",
    [
        {"backupType": "SELECTIVE"},
        {"backupType": "SELECTIVE", "tables": []},
        {"backupType": "FULL", "tables": ["User"]},
        {"backupType": "PARTIAL", "tables": ["User"]},
        {"backupType": "FULL", "includeSchema": False, "includeData": False},
        {"backupType": "FULL", "description": "x" * 192},
    ],
)
async def test_bad_backup_requests_are_refused_before_anything_starts(
    api: Api, input_: dict[str, Any]
) -> None:
    error = await api.error(CREATE, {"input": input_})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await api.query("{ backups { total } }"))["backups"]["total"] == 0
    assert list(api.settings.backup_dir.iterdir()) == []


@pytest.mark.parametrize(
    "name",
    ["--result-file=/tmp/lumbung-x", "a`b", "../x", "user", "User; DROP TABLE Role", "x" * 10_000],
)
async def test_unknown_table_names_are_named_in_the_refusal(api: Api, name: str) -> None:
    error = await api.error(
        CREATE, {"input": {"backupType": "SELECTIVE", "tables": ["User", name]}}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert repr(name[:64])[1:-1][:60] in error["message"]
    assert len(error["message"]) < 1000  # a 10 KB name is not echoed whole
    assert "'User'" not in error["message"]


def _catalog_row(filename: str, status: str, **values: Any) -> Backup:
    """A catalog row as a dead process may have left it (no file behind it)."""
    return Backup(
        filename=filename,
        status=status,
        **{"backup_type": "full", "file_size": 0, "created_by": 1, **values},
    )


async def test_jobs_left_in_progress_by_a_dead_process_are_failed_at_start(
    settings: Any, tmp_path: Any
) -> None:
    async with open_api(settings) as api:
        async with api.resources.sessions() as session:
            row = _catalog_row("backup_full_2024-01-15T10-30-00.sql.zst", "in_progress")
            session.add(row)
            await session.commit()
        partial = api.settings.backup_dir / (row.filename + ".partial")
        partial.write_bytes(b"half a dump")
    async with open_api(make_settings(settings.resolved_database_url(), tmp_path)) as api:
        backup = (
            await api.query(
                "query ($id: Int!) { backup(id: $id) { status errorMessage } }", {"id": row.id}
            )
        )["backup"]
        assert backup["status"] == "FAILED"
        assert backup["errorMessage"].startswith("Interrupted")
        assert not partial.exists()


async def test_a_restore_left_in_progress_says_what_it_may_have_changed(
    settings: Any, tmp_path: Any
) -> None:
    """A dead process's restores: with a safety backup on record, the next start puts the tables
    back from it (here its file is gone, so the log says to do it by hand); an automatic
    rollback cut off in turn starts again; without a safety backup, the log names the tables
    that may be partly restored. SQLite's restore is one transaction."""
    async with open_api(settings) as api, api.resources.sessions() as session:
        target = _catalog_row("backup_full_2024-01-15T10-29-00.sql.zst", "completed")
        safety = _catalog_row(
            "backup_safety_2024-01-15T10-30-00.sql.zst",
            "completed",
            backup_type="selective",
            origin="safety",
            tables=["User"],
        )
        session.add_all([target, safety])
        await session.flush()
        with_safety = RestoreLog(
            backup_id=target.id,
            status="in_progress",
            restored_by=1,
            tables=["User", "Made"],
            safety_backup_id=safety.id,
        )
        without = RestoreLog(
            backup_id=target.id, status="in_progress", restored_by=1, tables=["Role"]
        )
        rollback = RestoreLog(
            backup_id=safety.id,
            status="in_progress",
            restored_by=0,
            tables=["User"],
            description=ROLLBACK_DESCRIPTION.format(id=7),
        )
        session.add_all([with_safety, without, rollback])
        await session.commit()
    async with open_api(make_settings(settings.resolved_database_url(), tmp_path)) as api:
        logs = {
            item["id"]: item
            for item in (await api.query(RESTORE_LOGS, {"id": target.id}))["restoreLogs"]["items"]
        }
        assert {log["status"] for log in logs.values()} == {"FAILED"}
        first, second = logs[with_safety.id]["errorMessage"], logs[without.id]["errorMessage"]
        assert first.startswith("Interrupted") and second.startswith("Interrupted")
        if api.resources.engine.dialect.name == "sqlite":
            assert first.endswith("It ran in one transaction: nothing was changed.")
            assert second.endswith("It ran in one transaction: nothing was changed.")
            return
        assert (
            f"they are put back from safety backup #{safety.id} ({safety.filename}), and Made, "
            "which it had created, were dropped. That could not start: " in first
        )
        assert first.endswith(
            f"Restore safety backup #{safety.id} by hand before using the database."
        )
        assert second.endswith("these tables may be partly restored: Role.")
        [again] = (await api.query(RESTORE_LOGS, {"id": safety.id}))["restoreLogs"]["items"]
        assert again["status"] == "FAILED"
        assert again["errorMessage"].startswith(
            f"Interrupted: the process running this job stopped before it finished. It was "
            f"putting tables back from safety backup #{safety.id} ({safety.filename}): that "
            "starts again. That could not start: "
        )
