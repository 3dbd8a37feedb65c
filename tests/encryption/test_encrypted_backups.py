"""Encrypted backups through the API, on SQLite and MariaDB: they restore and verify with the
identity, are refused untouched without it or with the wrong one, and open with the standard
tools alone."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from server.encryption.keys import Identity
from tests.backup.conftest import build_rich_database, checksums
from tests.backup.faults import flip_bit
from tests.backup.helpers import RESTORE_LOGS, backup_and_wait, restore_and_wait
from tests.encryption.age_cli import age_binary, keygen
from tests.support.app import Api, make_settings, open_api
from tests.support.mariadb import MariaDBServer
from tests.support.waiting import wait_until

VERIFY = """mutation ($id: Int!, $identity: String) {
  verifyBackup(id: $id, identity: $identity) { status problems sectionsChecked } }"""
RESTORE = """mutation ($id: Int!, $confirm: String!, $identity: String, $tables: [String!]) {
  restoreBackup(id: $id, confirm: $confirm, identity: $identity, tables: $tables) {
    restoreLog { id status } } }"""
ROW = "query ($id: Int!) { backup(id: $id) { encrypted recipients origin } }"


@pytest.fixture
def key(tmp_path: Path) -> Identity:
    return keygen(tmp_path / "key.txt")


async def _names(api: Api) -> list[str]:
    async with api.resources.engine.connect() as connection:
        quote = '"' if connection.dialect.name == "sqlite" else "`"
        rows = await connection.execute(text(f"SELECT name FROM {quote}User{quote} ORDER BY id"))
        return [row[0] for row in rows]


async def _rename_everyone(api: Api, name: str) -> None:
    async with api.resources.engine.begin() as connection:
        quote = '"' if connection.dialect.name == "sqlite" else "`"
        await connection.execute(text(f"UPDATE {quote}User{quote} SET name = :n"), {"n": name})


async def _restore(api: Api, backup: dict[str, Any], **variables: Any) -> dict[str, Any]:
    """restoreBackup as admin; returns the response body (data or errors)."""
    response = await api.post(
        RESTORE, {"id": backup["id"], "confirm": backup["filename"], **variables}
    )
    body: dict[str, Any] = response.json()
    return body


async def _wait_restore(api: Api, backup_id: int, log_id: int) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        items = (await api.query(RESTORE_LOGS, {"id": backup_id}))["restoreLogs"]["items"]
        log: dict[str, Any] = next(item for item in items if item["id"] == log_id)
        return None if log["status"] == "IN_PROGRESS" else log

    result: dict[str, Any] = await wait_until(done)
    return result


@pytest.fixture
async def encrypted(database_url: str, tmp_path: Path, key: Identity) -> AsyncIterator[Api]:
    settings = make_settings(
        database_url,
        tmp_path,
        age_recipients=[str(Identity.generate().recipient), str(key.recipient)],
        age_identity_file=tmp_path / "key.txt",
    )
    async with open_api(settings) as api:
        yield api


async def test_an_encrypted_backup_verifies_and_restores_with_the_identity_file(
    encrypted: Api, key: Identity
) -> None:
    names = await _names(encrypted)
    backup = await backup_and_wait(encrypted, backupType="FULL")
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    row = (await encrypted.query(ROW, {"id": backup["id"]}))["backup"]
    assert row["encrypted"] is True
    assert str(key.recipient) in row["recipients"] and len(row["recipients"]) == 2
    path = encrypted.settings.backup_dir / backup["filename"]
    assert path.read_bytes().startswith(b"age-encryption.org/v1\n")
    manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    assert manifest["encryption"]["recipients"] == row["recipients"]
    assert manifest["size"] == path.stat().st_size  # the encrypted file's own size and hash
    assert manifest["encryption"]["plaintextSize"] == sum(s["length"] for s in manifest["sections"])

    verified = (await encrypted.query(VERIFY, {"id": backup["id"]}))["verifyBackup"]
    assert verified == {
        "status": "OK",
        "problems": [],
        "sectionsChecked": len(manifest["sections"]),
    }
    await _rename_everyone(encrypted, "changed")
    log = await restore_and_wait(encrypted, backup)
    assert log["status"] == "COMPLETED", log["errorMessage"]
    assert await _names(encrypted) == names


async def test_one_table_restores_from_an_encrypted_full_backup(encrypted: Api) -> None:
    names = await _names(encrypted)
    backup = await backup_and_wait(encrypted, backupType="FULL")
    await _rename_everyone(encrypted, "changed")
    log = await restore_and_wait(encrypted, backup, tables=["User"])
    assert log["status"] == "COMPLETED", log["errorMessage"]
    assert await _names(encrypted) == names


async def test_a_restore_without_an_identity_is_refused_and_touches_nothing(
    database_url: str, tmp_path: Path, key: Identity
) -> None:
    settings = make_settings(database_url, tmp_path, age_recipients=[str(key.recipient)])
    async with open_api(settings) as api:
        backup = await backup_and_wait(api, backupType="FULL")
        await _rename_everyone(api, "after the backup")
        body = await _restore(api, backup)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "LUMBUNG_AGE_IDENTITY_FILE" in error["message"]
        assert str(key.recipient) in error["message"]
        assert "Nothing was changed" in error["message"]
        assert set(await _names(api)) == {"after the backup"}
        logs = await api.query(RESTORE_LOGS, {"id": backup["id"]})
        assert logs["restoreLogs"]["items"] == []
        verify = await api.error(VERIFY, {"id": backup["id"]})
        assert "LUMBUNG_AGE_IDENTITY_FILE" in verify["message"]


async def test_a_wrong_identity_is_refused_naming_who_the_backup_is_for(
    database_url: str, tmp_path: Path, key: Identity
) -> None:
    wrong = keygen(tmp_path / "wrong.txt")
    settings = make_settings(
        database_url,
        tmp_path,
        age_recipients=[str(key.recipient)],
        age_identity_file=tmp_path / "wrong.txt",
    )
    async with open_api(settings) as api:
        backup = await backup_and_wait(api, backupType="PARTIAL")
        await _rename_everyone(api, "after the backup")
        [error] = (await _restore(api, backup))["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "does not open" in error["message"]
        assert str(key.recipient) in error["message"]
        assert str(wrong.recipient) in error["message"]
        assert set(await _names(api)) == {"after the backup"}


async def test_an_identity_file_that_others_can_read_is_refused(
    encrypted: Api, tmp_path: Path
) -> None:
    backup = await backup_and_wait(encrypted, backupType="PARTIAL")
    (tmp_path / "key.txt").chmod(0o644)
    error = await encrypted.error(VERIFY, {"id": backup["id"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "0644" in error["message"] and "chmod 600" in error["message"]


async def test_an_identity_given_with_the_request_restores_once_and_is_never_logged(
    database_url: str, tmp_path: Path, key: Identity, caplog: pytest.LogCaptureFixture
) -> None:
    secret = (tmp_path / "key.txt").read_text()
    settings = make_settings(database_url, tmp_path, age_recipients=[str(key.recipient)])
    caplog.set_level(logging.DEBUG)
    async with open_api(settings) as api:
        names = await _names(api)
        backup = await backup_and_wait(api, backupType="FULL")
        await _rename_everyone(api, "changed")
        body = await _restore(api, backup, identity=secret)
        assert "errors" not in body, body
        log = await _wait_restore(
            api, backup["id"], body["data"]["restoreBackup"]["restoreLog"]["id"]
        )
        assert log["status"] == "COMPLETED", log["errorMessage"]
        assert await _names(api) == names
        # Nothing kept it: the next restore without it is refused.
        [error] = (await _restore(api, backup))["errors"]
        assert "LUMBUNG_AGE_IDENTITY_FILE" in error["message"]
    logged = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert key.encoded() not in logged
    assert key.encoded().lower() not in logged


async def test_a_passphrase_encrypts_and_opens_backups(database_url: str, tmp_path: Path) -> None:
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("a long enough passphrase\n")
    passphrase.chmod(0o600)
    settings = make_settings(
        database_url, tmp_path, age_passphrase_file=passphrase, age_work_factor=10
    )
    async with open_api(settings) as api:
        names = await _names(api)
        backup = await backup_and_wait(api, backupType="PARTIAL")
        row = (await api.query(ROW, {"id": backup["id"]}))["backup"]
        assert row["recipients"] == ["passphrase"]
        await _rename_everyone(api, "changed")
        log = await restore_and_wait(api, backup)
        assert log["status"] == "COMPLETED", log["errorMessage"]
        assert await _names(api) == names


async def test_a_safety_backup_stays_plaintext_so_a_rollback_needs_no_secret(
    encrypted: Api,
) -> None:
    backup = await backup_and_wait(encrypted, backupType="PARTIAL")
    log = await restore_and_wait(encrypted, backup)
    assert log["safetyBackupId"] is not None
    safety = (await encrypted.query(ROW, {"id": log["safetyBackupId"]}))["backup"]
    assert safety == {"encrypted": False, "recipients": [], "origin": "SAFETY"}


async def test_a_flipped_bit_in_an_encrypted_backup_is_found_and_refused(encrypted: Api) -> None:
    backup = await backup_and_wait(encrypted, backupType="FULL")
    path = encrypted.settings.backup_dir / backup["filename"]
    flip_bit(path, path.stat().st_size // 2)
    verified = (await encrypted.query(VERIFY, {"id": backup["id"]}))["verifyBackup"]
    assert verified["status"] == "CORRUPT"
    assert any("authentication" in p or "SHA-256" in p for p in verified["problems"])
    [error] = (await _restore(encrypted, backup))["errors"]
    assert error["extensions"]["code"] == "CHECKSUM_MISMATCH"


def _restore_with_age_zstd_mariadb(
    mariadb: MariaDBServer, tmp_path: Path, file: Path, database: str
) -> None:
    """`age -d -i key.txt FILE | zstd -dc | mariadb db`, as docs/encryption.md says."""
    options = mariadb.write_client_option_file(tmp_path / "client.cnf")
    with (
        subprocess.Popen(
            [age_binary(), "-d", "-i", str(tmp_path / "key.txt"), str(file)],
            stdout=subprocess.PIPE,
        ) as age,
        subprocess.Popen(["zstd", "-dc"], stdin=age.stdout, stdout=subprocess.PIPE) as zstd,
    ):
        assert age.stdout is not None
        age.stdout.close()  # zstd holds it now
        subprocess.run(
            ["mariadb", f"--defaults-file={options}", "--default-character-set=utf8mb4", database],
            stdin=zstd.stdout,
            check=True,
        )
    assert age.returncode == 0 and zstd.returncode == 0


async def test_age_zstd_and_mariadb_alone_restore_an_encrypted_backup(
    mariadb: MariaDBServer, tmp_path: Path
) -> None:
    key = keygen(tmp_path / "key.txt")
    name = f"enc_{os.getpid()}_{tmp_path.name[-12:]}".replace("-", "_")[:60]
    copy = name[:50] + "_copy"
    url = mariadb.create_database(name)
    copy_url = mariadb.create_database(copy)
    try:
        settings = make_settings(url, tmp_path, age_recipients=[str(key.recipient)])
        async with open_api(settings) as api:
            await build_rich_database(api.resources.engine)
            before = await checksums(api.resources.engine)
            backup = await backup_and_wait(api, backupType="FULL")
            assert backup["status"] == "COMPLETED", backup["errorMessage"]
            file = settings.backup_dir / backup["filename"]
        _restore_with_age_zstd_mariadb(mariadb, tmp_path, file, copy)
        engine = create_async_engine(copy_url)
        try:
            assert await checksums(engine) == before
        finally:
            await engine.dispose()
    finally:
        mariadb.drop_database(name)
        mariadb.drop_database(copy)
