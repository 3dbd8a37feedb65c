"""Backups and restores as an application's account usually is: all rights on its own database,
none beyond. What such an account cannot read is never silently left out of a backup, and a
restore it could not finish (objects defined by another account) is refused before anything
changes."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import quote_plus

import pytest
from sqlalchemy import text

from server.backup.adapters.base import DatabaseAdapter
from server.backup.manifest import Manifest, Section
from server.restore.plan import require_definers_allowed
from tests.backup.conftest import build_rich_database, checksums
from tests.backup.helpers import RESTORE, backup_and_wait, restore_and_wait
from tests.support.app import Api, make_settings, open_api
from tests.support.mariadb import MariaDBServer


@dataclass
class Scoped:
    api: Api
    server: MariaDBServer
    database: str
    user: str
    admin: str  # the server's administrator, `root`@`localhost` as a definer

    @property
    def account(self) -> str:
        return f"`{self.user}`@`%`"

    def as_root(self, sql: str) -> None:
        self.server.root_sql(sql, self.database)

    async def sql(self, statement: str) -> list[tuple[object, ...]]:
        async with self.api.resources.engine.begin() as connection:
            result = await connection.execute(text(statement))
            return [tuple(row) for row in result.all()] if result.returns_rows else []

    def manifest(self, backup: dict[str, object]) -> dict[str, object]:
        path = self.api.settings.backup_dir / f"{backup['filename']}.manifest.json"
        manifest: dict[str, object] = json.loads(path.read_text())
        return manifest


@pytest.fixture
async def scoped(mariadb: MariaDBServer, tmp_path: Path) -> AsyncIterator[Scoped]:
    """The API as an account with ALL PRIVILEGES on its database and nothing global, on the
    rich database (view, trigger and routine created by that account)."""
    database = f"acct_{os.getpid()}_{tmp_path.name[-12:]}".replace("-", "_")[:60]
    user = f"app_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    mariadb.create_database(database)
    mariadb.root_sql(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}';\n"
        f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%';\n"
    )
    url = (
        f"mysql+aiomysql://{user}:{quote_plus(password)}@{mariadb.host}:{mariadb.port}/"
        f"{database}?charset=utf8mb4"
    )
    try:
        async with open_api(make_settings(url, tmp_path)) as api:
            await build_rich_database(api.resources.engine)
            admin = mariadb.root_sql("SELECT CURRENT_USER();").strip()
            name, host = admin.rsplit("@", 1)
            yield Scoped(api, mariadb, database, user, f"`{name}`@`{host}`")
    finally:
        mariadb.drop_database(database)
        mariadb.root_sql(f"DROP USER IF EXISTS '{user}'@'%';")


async def test_an_account_with_rights_on_its_database_only_backs_up_and_restores_all(
    scoped: Scoped,
) -> None:
    engine = scoped.api.resources.engine
    before = await checksums(engine)
    backup = await backup_and_wait(scoped.api, backupType="FULL")
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    sections = scoped.manifest(backup)["sections"]
    assert isinstance(sections, list)
    defined = {(s["kind"], s["table"]): s["definers"] for s in sections if s["definers"]}
    # The view, the trigger (in its table's section) and the routine, by this account.
    assert defined == {
        ("view", "EverythingView"): [scoped.account],
        ("table", "Everything"): [scoped.account],
        ("routines", None): [scoped.account],
    }

    await scoped.sql("DROP VIEW `EverythingView`")
    await scoped.sql("UPDATE `Everything` SET txt = 'changed'")
    log = await restore_and_wait(scoped.api, backup)  # with its safety backup, by default
    assert log["status"] == "COMPLETED", log["errorMessage"]
    assert await checksums(engine) == before
    assert await scoped.sql("SELECT COUNT(*) FROM `EverythingView`") == [(4,)]


async def test_a_routine_the_account_may_not_read_fails_the_backup_and_says_what_to_grant(
    scoped: Scoped,
) -> None:
    scoped.as_root(f"CREATE DEFINER={scoped.admin} PROCEDURE `hidden`() SELECT 42;")
    backup = await backup_and_wait(scoped.api, backupType="FULL")
    assert backup["status"] == "FAILED"
    assert "PROCEDURE `hidden`" in backup["errorMessage"]
    assert "GRANT SELECT ON mysql.proc" in backup["errorMessage"]
    assert not any(scoped.api.settings.backup_dir.glob(f"{backup['filename']}*"))

    # Once the account may read it, the routine is in the backup.
    scoped.as_root(f"GRANT SELECT ON mysql.proc TO '{scoped.user}'@'%';")
    backup = await backup_and_wait(scoped.api, backupType="FULL")
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    sections = scoped.manifest(backup)["sections"]
    assert isinstance(sections, list)
    routines = next(s for s in sections if s["kind"] == "routines")
    assert sorted(routines["definers"]) == sorted([scoped.admin, scoped.account])


# What older dump tools write instead of a routine the account may not read, exiting 0 (MariaDB
# 10.11's stops with an error instead, as the test above shows).
LEAVES_OUT_A_ROUTINE = (
    "#!/bin/sh\n"
    'mariadb-dump "$@" | sed '
    "'s/^-- Dump completed/-- insufficient privileges to SHOW CREATE FUNCTION `f`\\n"
    "-- does app have permissions on mysql.proc?\\n\\n-- Dump completed/'\n"
)


async def test_a_dump_tool_that_leaves_a_routine_out_and_exits_0_fails_the_backup(
    database: str, tmp_path: Path
) -> None:
    tool = tmp_path / "old-dump-tool"
    tool.write_text(LEAVES_OUT_A_ROUTINE)
    tool.chmod(0o700)
    async with open_api(make_settings(database, tmp_path, dump_command=str(tool))) as api:
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "FAILED"
        assert backup["errorMessage"].startswith("old-dump-tool left out FUNCTION `f`:")
        assert "GRANT SELECT ON mysql.proc" in backup["errorMessage"]
        assert not any(api.settings.backup_dir.glob(f"{backup['filename']}*"))


async def test_a_restore_needing_another_accounts_objects_is_refused_before_any_change(
    scoped: Scoped,
) -> None:
    scoped.as_root(
        f"CREATE DEFINER={scoped.admin} VIEW `RootView` AS SELECT id FROM `Everything`;\n"
        f"CREATE DEFINER={scoped.admin} TRIGGER `Role_stamp` BEFORE INSERT ON `Role` FOR EACH ROW "
        "SET NEW.name = CONCAT(NEW.name, '');"
    )
    engine = scoped.api.resources.engine
    backup = await backup_and_wait(scoped.api, backupType="FULL")
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    await scoped.sql("UPDATE `Everything` SET txt = 'changed after the backup'")
    changed = await checksums(engine)

    for tables in (None, ["Role"]):  # the view (FULL) or the trigger (one table)
        error = await scoped.api.error(
            RESTORE, {"id": backup["id"], "confirm": backup["filename"], "tables": tables}
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert scoped.admin in error["message"] and "SET USER" in error["message"]
        assert "Nothing was changed" in error["message"]
    assert await checksums(engine) == changed
    assert await scoped.sql("SELECT COUNT(*) FROM `RootView`") == [(4,)]
    logs = await scoped.sql("SELECT COUNT(*) FROM `RestoreLog`")
    assert logs == [(0,)]

    # With the privilege to act for other accounts, the same restore goes through.
    scoped.as_root(f"GRANT SET USER ON *.* TO '{scoped.user}'@'%';")
    log = await restore_and_wait(scoped.api, backup)
    assert log["status"] == "COMPLETED", log["errorMessage"]
    assert await scoped.sql("SELECT COUNT(*) FROM `RootView`") == [(4,)]
    assert await checksums(engine) != changed


async def test_the_privilege_held_through_the_accounts_default_role_counts(
    scoped: Scoped,
) -> None:
    role = f"r_{scoped.user}"
    scoped.as_root(f"CREATE DEFINER={scoped.admin} VIEW `RootView` AS SELECT 1 AS one;")
    backup = await backup_and_wait(scoped.api, backupType="FULL")
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    scoped.as_root(
        f"CREATE ROLE `{role}`; GRANT SET USER ON *.* TO `{role}`;\n"
        f"GRANT `{role}` TO '{scoped.user}'@'%'; SET DEFAULT ROLE `{role}` FOR '{scoped.user}'@'%';"
    )
    try:
        await scoped.api.resources.engine.dispose()  # a default role applies from the next login
        log = await restore_and_wait(scoped.api, backup)
        assert log["status"] == "COMPLETED", log["errorMessage"]
        assert await scoped.sql("SELECT one FROM `RootView`") == [(1,)]
    finally:
        scoped.as_root(f"DROP ROLE IF EXISTS `{role}`;")


async def test_live_objects_of_another_account_count_only_when_a_rollback_could_replay_them(
    scoped: Scoped,
) -> None:
    backup = await backup_and_wait(scoped.api, backupType="FULL")
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    # Added after the backup: the safety backup would hold it, and a rollback recreate it.
    scoped.as_root(f"CREATE DEFINER={scoped.admin} VIEW `Later` AS SELECT 1 AS one;")

    error = await scoped.api.error(RESTORE, {"id": backup["id"], "confirm": backup["filename"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert scoped.admin in error["message"]

    # Without a safety backup there is no rollback to replay it: the restore runs, and the
    # view it does not hold stays as it was.
    log = await restore_and_wait(scoped.api, backup, safety=False)
    assert log["status"] == "COMPLETED", log["errorMessage"]
    assert await scoped.sql("SELECT one FROM `Later`") == [(1,)]


async def test_a_data_only_restore_counts_the_live_triggers_it_suspends(scoped: Scoped) -> None:
    """A data-only restore drops the table's live triggers while the rows go in and creates
    them again after: one defined by another account could not come back."""
    backup = await backup_and_wait(
        scoped.api, backupType="SELECTIVE", tables=["Role"], includeSchema=False
    )
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    scoped.as_root(
        f"CREATE DEFINER={scoped.admin} TRIGGER `Role_stamp` BEFORE INSERT ON `Role` FOR EACH ROW "
        "SET NEW.name = CONCAT(NEW.name, '');"
    )
    error = await scoped.api.error(
        RESTORE,
        {"id": backup["id"], "confirm": backup["filename"], "tables": None, "safety": False},
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert scoped.admin in error["message"]
    triggers = await scoped.sql(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
    )
    assert ("Role_stamp",) in triggers


async def test_a_backup_from_before_definers_were_recorded_is_restored_unchecked() -> None:
    """Such a manifest says nothing about definers: the restore goes ahead as it did then (and
    a refused statement ends it with the rollback), rather than refusing every old backup."""

    class Unasked:
        async def live_definers(self, tables: list[str], *, everything: bool) -> list[str]:
            raise AssertionError("asked about live definers")

        async def definers_refused(self, definers: list[str]) -> list[str]:
            raise AssertionError("asked about definers")

    old = {"kind": "view", "table": "V", "offset": 0, "length": 9, "sha256": "0" * 64}
    section = Section.from_json(old)
    assert section.definers is None
    manifest = Manifest(
        file="backup_full_2026-11-01T00-00-00.sql.zst",
        size=9,
        sha256="0" * 64,
        compression="zstd",
        backup_type="full",
        include_schema=True,
        include_data=True,
        tables=[],
        database={},
        tool={},
        lumbung_version="0.1.0",
        created_at="2026-11-01T00:00:00+00:00",
        completed_at="2026-11-01T00:00:01+00:00",
        sections=[section],
    )
    adapter = cast(DatabaseAdapter, Unasked())
    await require_definers_allowed(adapter, manifest, [], everything=True, rollback=True)
