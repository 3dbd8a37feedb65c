"""Offsite faults on real servers: the target killed mid-upload, a target down when a backup
is deleted, and the day the server is lost: a fresh installation restores from the bucket
alone (encrypted, with nothing but the target's settings and the identity)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.backup.faults import wait_for_phase
from tests.backup.helpers import backup_and_wait, restore_and_wait
from tests.encryption.age_cli import keygen
from tests.offsite.conftest import Remote, copies_of, offsite_settings, wait_for_copies
from tests.support.app import Api, open_api
from tests.support.seaweedfs import SeaweedFSServer

COPY = """mutation ($id: Int!) { copyBackup(id: $id) { message copies { target status } } }"""
DELETE = """mutation ($id: Int!, $confirm: String!) {
  deleteBackup(id: $id, confirm: $confirm) { removedCopies } }"""
REMOTE = """query ($target: String!) { remoteBackups(target: $target) {
  filename fileSize encrypted backupId } }"""
IMPORT = """mutation ($target: String!, $filename: String!) {
  importBackup(target: $target, filename: $filename) {
    backup { id filename status encrypted checksum copies { target status verifiedAt } } } }"""
BLOBS_MB = 40


@pytest.fixture
def own_weed() -> Iterator[SeaweedFSServer]:
    """A SeaweedFS of this test's own, to kill."""
    server = SeaweedFSServer().start()
    yield server
    server.cleanup()


async def _fill_blobs(api: Api) -> None:
    """A table of incompressible rows, so a backup takes several 5 MiB parts to upload."""
    async with api.resources.engine.begin() as connection:
        await connection.execute(text('CREATE TABLE "Blobs" (id INTEGER PRIMARY KEY, data BLOB)'))
        await connection.execute(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :mb) "
                'INSERT INTO "Blobs" SELECT i, randomblob(1048576) FROM n'
            ),
            {"mb": BLOBS_MB},
        )


async def test_a_target_killed_mid_upload_leaves_no_object_and_a_retry_completes(
    own_weed: SeaweedFSServer, tmp_path: Path
) -> None:
    remote = Remote("s3", own_weed, "bucket")
    settings = offsite_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        remote.target,
        offsite_retry_seconds=3600,  # no retry on its own: this test starts it
    )
    async with open_api(settings) as api:
        await _fill_blobs(api)
        backup = await backup_and_wait(
            api, backupType="SELECTIVE", tables=["Blobs"], compression="NONE"
        )
        assert backup["fileSize"] > 3 * 5 * 2**20
        copy_id = (await copies_of(api, backup["id"]))["copies"][0]["id"]
        # Midway: a part is through; the server is frozen, then killed.
        await wait_for_phase(api, f"offsite:{copy_id}", "uploading", min_bytes=1)
        assert own_weed.pid is not None
        os.kill(own_weed.pid, signal.SIGSTOP)
        assert (await copies_of(api, backup["id"]))["copies"][0]["status"] == "IN_PROGRESS"
        own_weed.kill()

        failed = await wait_for_copies(api, backup["id"], status="FAILED")
        assert "offsite target 'bucket'" in failed["copies"][0]["error"]
        assert failed["status"] == "COMPLETED"  # the backup itself is untouched
        own_weed.start()
        assert remote.names() == []  # nothing that looks like a copy, not even the file

        again = await api.query(COPY, {"id": backup["id"]})
        assert again["copyBackup"]["copies"][0]["status"] == "PENDING"
        done = await wait_for_copies(api, backup["id"])
        assert done["copies"][0]["attempts"] == 2
        assert remote.names() == [backup["filename"], backup["filename"] + ".manifest.json"]
        assert hashlib.sha256(remote.read(backup["filename"])).hexdigest() == backup["checksum"]


async def test_a_delete_while_a_target_is_down_deletes_nothing_and_names_the_target(
    own_weed: SeaweedFSServer, tmp_path: Path
) -> None:
    remote = Remote("s3", own_weed, "bucket")
    settings = offsite_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", remote.target
    )
    async with open_api(settings) as api:
        backup = await backup_and_wait(api, backupType="PARTIAL")
        await wait_for_copies(api, backup["id"])
        own_weed.kill()
        error = await api.error(DELETE, {"id": backup["id"], "confirm": backup["filename"]})
        assert error["extensions"]["code"] == "BACKEND_UNAVAILABLE"
        assert "offsite target 'bucket'" in error["message"]
        assert "was not deleted" in error["message"]
        assert (settings.backup_dir / backup["filename"]).exists()
        assert (await copies_of(api, backup["id"]))["copies"][0]["status"] == "COMPLETED"

        own_weed.start()
        deleted = await api.query(DELETE, {"id": backup["id"], "confirm": backup["filename"]})
        assert deleted["deleteBackup"]["removedCopies"] == ["bucket"]
        assert remote.names() == []


async def test_a_fresh_installation_restores_from_the_bucket_alone(
    weed: SeaweedFSServer, tmp_path: Path
) -> None:
    key = keygen(tmp_path / "key.txt")
    remote = Remote("s3", weed, "bucket")
    lost, fresh = tmp_path / "lost", tmp_path / "fresh"
    lost.mkdir()
    fresh.mkdir()
    encryption: dict[str, Any] = {
        "age_recipients": [str(key.recipient)],
        "age_identity_file": tmp_path / "key.txt",
    }
    first = offsite_settings(
        lost, f"sqlite+aiosqlite:///{lost / 'app.db'}", remote.target, **encryption
    )
    async with open_api(first) as api:
        async with api.resources.engine.begin() as connection:
            await connection.execute(text("UPDATE \"User\" SET name = 'kept offsite'"))
        backup = await backup_and_wait(api, backupType="FULL")
        await wait_for_copies(api, backup["id"])

    # The server is lost: a new one, with an empty catalog and folder, and the same target.
    second = offsite_settings(
        fresh, f"sqlite+aiosqlite:///{fresh / 'app.db'}", remote.target, **encryption
    )
    async with open_api(second) as api:
        listed = (await api.query(REMOTE, {"target": "bucket"}))["remoteBackups"]
        assert listed == [
            {
                "filename": backup["filename"],
                "fileSize": backup["fileSize"],
                "encrypted": True,
                "backupId": None,
            }
        ]
        imported = (await api.query(IMPORT, {"target": "bucket", "filename": backup["filename"]}))[
            "importBackup"
        ]["backup"]
        assert imported["status"] == "COMPLETED" and imported["encrypted"] is True
        assert imported["checksum"] == backup["checksum"]
        assert imported["copies"][0]["status"] == "COMPLETED"
        log = await restore_and_wait(api, imported, safety=False)
        assert log["status"] == "COMPLETED", log["errorMessage"]
        async with api.resources.engine.connect() as connection:
            names = {row[0] for row in await connection.execute(text('SELECT name FROM "User"'))}
        assert names == {"kept offsite"}
        again = await api.error(IMPORT, {"target": "bucket", "filename": backup["filename"]})
        assert again["extensions"]["code"] == "CONFLICT"


def _lumbung(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LUMBUNG_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_line_lists_imports_and_restores_from_a_target(
    weed: SeaweedFSServer, tmp_path: Path
) -> None:
    remote = Remote("s3", weed, "bucket")
    env = {"LUMBUNG_OFFSITE_TARGETS": json.dumps([remote.target])}
    lost, fresh = tmp_path / "lost", tmp_path / "fresh"
    lost.mkdir()
    fresh.mkdir()
    key = keygen(tmp_path / "key.txt")
    env["LUMBUNG_AGE_RECIPIENTS"] = str(key.recipient)
    made = _lumbung(lost, env, "backup", "--type", "partial", "--quiet")
    assert made.returncode == 0, made.stderr
    filename = made.stdout.strip()
    assert "copied to bucket, read back intact" in made.stderr

    listed = _lumbung(fresh, env, "import", "bucket")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith(f"{filename}\t")
    assert "encrypted\tnot imported" in listed.stdout
    imported = _lumbung(fresh, env, "import", "bucket", filename)
    assert imported.returncode == 0, imported.stderr
    backup_id = imported.stdout.split("\t")[0]

    refused = _lumbung(fresh, env, "restore", backup_id, "--confirm", filename, "--quiet")
    assert refused.returncode == 2
    assert "LUMBUNG_AGE_IDENTITY_FILE" in refused.stderr
    restored = _lumbung(
        fresh,
        env,
        "restore",
        backup_id,
        "--confirm",
        filename,
        "--identity-file",
        str(tmp_path / "key.txt"),
        "--quiet",
    )
    assert restored.returncode == 0, restored.stderr
    assert "completed" in restored.stderr
