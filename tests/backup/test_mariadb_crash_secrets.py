"""No secret is left on disk when the server dies in the middle of a job."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.backup.conftest import fill_bulk
from tests.backup.faults import wait_for_child, wait_for_loading_client
from tests.backup.helpers import BACKUP, CREATE, RESTORE
from tests.support.lumbung import LumbungServer, post, start_server
from tests.support.mariadb import MariaDBServer
from tests.support.tokens import JWT_SECRET
from tests.support.waiting import wait_until


def _env(database: str, tmp_path: Path) -> dict[str, str]:
    return {
        "LUMBUNG_DATABASE_URL": database,
        "LUMBUNG_JWT_SECRET": JWT_SECRET,
        "LUMBUNG_DATA_DIR": str(tmp_path / "data"),
        "LUMBUNG_BACKUP_DIR": str(tmp_path / "backups"),
        "LUMBUNG_LOG_FORMAT": "text",
        # The server's own temp folder, so that everything it could leave there is seen here.
        "TMPDIR": str(tmp_path / "tmp"),
        # zstd's slowest level keeps the dump running long enough to be killed in the act.
        "LUMBUNG_ZSTD_LEVEL": "19",
        # A restore through one `mariadb` client, to be killed while it reads its options.
        "LUMBUNG_RESTORE_CONNECTIONS": "1",
    }


def _files_holding(secret: bytes, *folders: Path) -> list[str]:
    found = []
    for folder in folders:
        for root, _, names in os.walk(folder):
            for name in names:
                path = Path(root, name)
                if not path.is_symlink() and secret in path.read_bytes():
                    found.append(str(path))
    return found


async def _backup(server: LumbungServer) -> dict[str, Any]:
    created = await post(server, CREATE, {"input": {"backupType": "FULL"}})
    backup_id = created["createBackup"]["backup"]["id"]

    async def done() -> dict[str, Any] | None:
        item: dict[str, Any] = (await post(server, BACKUP, {"id": backup_id}))["backup"]
        return None if item["status"] == "IN_PROGRESS" else item

    backup: dict[str, Any] = await wait_until(done)
    return backup


@pytest.mark.parametrize("job", ["backup", "restore"])
async def test_a_server_killed_mid_job_leaves_no_password_on_disk(
    job: str, database: str, mariadb: MariaDBServer, tmp_path: Path
) -> None:
    (tmp_path / "tmp").mkdir()
    engine = create_async_engine(database)
    await fill_bulk(engine, 60_000)
    await engine.dispose()
    server = start_server(tmp_path, _env(database, tmp_path))
    try:
        if job == "backup":
            await post(server, CREATE, {"input": {"backupType": "FULL"}})
            tool = await wait_for_child("mariadb-dump", timeout=60)
        else:
            backup = await _backup(server)
            assert backup["status"] == "COMPLETED", backup["errorMessage"]
            await post(
                server,
                RESTORE,
                {"id": backup["id"], "confirm": backup["filename"], "safety": False},
            )
            tool = await wait_for_loading_client(min_bytes=1)
        assert tool.is_running()
        server.process.kill()
        server.process.wait()
    finally:
        server.stop()
    secret = mariadb.password.encode()
    folders = [tmp_path / "tmp", tmp_path / "data", tmp_path / "backups"]
    assert _files_holding(secret, *folders, *tmp_path.glob("serve-*.log")) == []


async def test_option_files_that_a_dead_process_left_are_removed_at_start(
    database: str, tmp_path: Path
) -> None:
    """What Lumbung without memfd leaves behind when it is killed: a 0600 `client.cnf` in the
    temp folder, holding the password."""
    tmp = tmp_path / "tmp"

    def planted(name: str, age_seconds: float = 0) -> Path:
        folder = tmp / name
        folder.mkdir(parents=True)
        (folder / "client.cnf").write_text("[client]\npassword=hunter2\n")
        when = time.time() - age_seconds
        os.utime(folder, (when, when))
        return folder

    dead = planted("lumbung-client-4194399-abcd1234")  # a pid above pid_max: not running
    live = planted(f"lumbung-client-{os.getpid()}-efgh5678")  # a running process's, in use
    old_style = planted("lumbung-client-ijkl9012", age_seconds=3600)  # no pid, an hour old
    young = planted("lumbung-client-mnop3456")  # no pid, just made: maybe another's, in use
    server = start_server(tmp_path, _env(database, tmp_path))
    try:
        assert not dead.exists() and not old_style.exists()
        assert live.exists() and young.exists()
    finally:
        server.stop()
