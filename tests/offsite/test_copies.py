"""Offsite copies on a real S3 server (SeaweedFS) and a real SFTP server (OpenSSH): each
completed backup goes to every target and is read back; a damaged copy is found and replaced;
a backup whose local file is gone is restored from its copy; deleting a backup deletes its
copies, or nothing when a target cannot be reached."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update

from server.db.enums import CopyStatus
from server.db.models import BackupCopy
from server.events.event import ProgressEvent
from tests.backup.helpers import backup_and_wait, restore_and_wait
from tests.offsite.conftest import Remote, copies_of, offsite_settings, wait_for_copies
from tests.support.app import Api, open_api
from tests.support.asgi import serving
from tests.support.seaweedfs import SeaweedFSServer
from tests.support.sshd import SSHServer
from tests.support.waiting import wait_until
from tests.support.websocket import graphql_socket

TARGETS = "{ offsiteTargets { name kind enabled location } }"
VERIFY_COPY = """mutation ($id: Int!, $target: String) {
  verifyBackup(id: $id, target: $target) { status problems target } }"""
DELETE = """mutation ($id: Int!, $confirm: String!) {
  deleteBackup(id: $id, confirm: $confirm) { removedFiles removedCopies forgottenCopies } }"""
COPY = "mutation ($id: Int!) { copyBackup(id: $id) { copies { target status } } }"
PROGRESS = """subscription ($id: Int!) { offsiteCopyProgress(id: $id) {
  jobId status phase bytesDone bytesTotal message } }"""


async def _names(api: Api) -> list[str]:
    async with api.resources.engine.connect() as connection:
        rows = await connection.execute(text('SELECT name FROM "User" ORDER BY id'))
        return [row[0] for row in rows]


async def _rename_everyone(api: Api, name: str) -> None:
    async with api.resources.engine.begin() as connection:
        await connection.execute(text('UPDATE "User" SET name = :n'), {"n": name})


async def test_a_completed_backup_is_copied_to_every_target_and_read_back(
    weed: SeaweedFSServer, sshd: SSHServer, tmp_path: Path
) -> None:
    s3, sftp = Remote("s3", weed, "bucket"), Remote("sftp", sshd, "sftp")
    settings = offsite_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", s3.target, sftp.target
    )
    async with open_api(settings) as api:
        targets = (await api.query(TARGETS))["offsiteTargets"]
        assert [(t["name"], t["kind"], t["enabled"]) for t in targets] == [
            ("bucket", "S3", True),
            ("sftp", "SFTP", True),
        ]
        backup = await backup_and_wait(api, backupType="FULL")
        done = await wait_for_copies(api, backup["id"], count=2)
        local = (settings.backup_dir / backup["filename"]).read_bytes()
        manifest = (settings.backup_dir / (backup["filename"] + ".manifest.json")).read_bytes()
        for copy in done["copies"]:
            assert copy["bytes"] == done["fileSize"] == len(local)
            assert copy["verifiedAt"] is not None and copy["error"] is None
        for remote in (s3, sftp):
            assert remote.names() == [backup["filename"], backup["filename"] + ".manifest.json"]
            assert hashlib.sha256(remote.read(backup["filename"])).hexdigest() == done["checksum"]
            assert remote.read(backup["filename"] + ".manifest.json") == manifest


async def test_a_copy_reports_its_progress_to_the_end(copying: tuple[Api, Remote]) -> None:
    api, _ = copying
    backup = await backup_and_wait(api, backupType="FULL")
    done = await wait_for_copies(api, backup["id"])
    copy_id = done["copies"][0]["id"]
    async with serving(api.app) as url, graphql_socket(url) as socket:
        await socket.init({"Authorization": f"Bearer {api.token()}"})
        operation = await socket.subscribe(PROGRESS, {"id": copy_id})
        events = [
            payload["data"]["offsiteCopyProgress"] async for payload in socket.stream(operation)
        ]
    assert events[-1]["status"] == "COMPLETED"
    assert events[-1]["jobId"] == f"offsite:{copy_id}"
    assert "read it back intact" in events[-1]["message"]
    last = await api.resources.progress.latest(f"offsite:{copy_id}")
    assert last is not None and last.final and last.bytes_total == done["fileSize"]


async def test_a_copys_overall_figure_goes_through_upload_and_read_back_and_never_back(
    copying: tuple[Api, Remote],
) -> None:
    api, _ = copying
    events: list[ProgressEvent] = []
    api.resources.progress.add_listener(events.append)
    backup = await backup_and_wait(api, backupType="FULL")
    done = await wait_for_copies(api, backup["id"])
    mine = [e for e in events if e.job_id == f"offsite:{done['copies'][0]['id']}"]
    figures = [e.overall_percent for e in mine]
    assert figures == sorted(figures), figures
    assert figures[-1] == 100.0
    assert any(0 < figure < 100 for figure in figures), "the bar jumps from 0 to the end"
    phases = [e.phase for e in mine]
    assert phases.index("uploading") < phases.index("verifying") < phases.index("done")


async def test_a_bit_flipped_in_the_remote_copy_is_found_and_the_copy_replaced(
    copying: tuple[Api, Remote],
) -> None:
    api, remote = copying
    backup = await backup_and_wait(api, backupType="FULL")
    await wait_for_copies(api, backup["id"])
    data = bytearray(remote.read(backup["filename"]))
    data[len(data) // 2] ^= 0x10
    remote.write(backup["filename"], bytes(data))

    found = (await api.query(VERIFY_COPY, {"id": backup["id"], "target": remote.name}))[
        "verifyBackup"
    ]
    assert found["status"] == "CORRUPT" and found["target"] == remote.name
    assert "its SHA-256 differs from the backup's" in found["problems"]
    # The local file is intact: the copy is uploaded again, and reads back whole.
    repaired = await wait_for_copies(api, backup["id"])
    assert repaired["copies"][0]["attempts"] == 2
    assert hashlib.sha256(remote.read(backup["filename"])).hexdigest() == backup["checksum"]
    again = await api.query(VERIFY_COPY, {"id": backup["id"], "target": remote.name})
    assert again["verifyBackup"]["status"] == "OK"


async def test_a_restore_whose_local_file_is_gone_fetches_the_remote_copy(
    copying: tuple[Api, Remote],
) -> None:
    api, _ = copying
    names = await _names(api)
    backup = await backup_and_wait(api, backupType="FULL")
    await wait_for_copies(api, backup["id"])
    folder = api.settings.backup_dir
    (folder / backup["filename"]).unlink()
    (folder / (backup["filename"] + ".manifest.json")).unlink()
    await _rename_everyone(api, "changed")

    log = await restore_and_wait(api, backup, safety=False)
    assert log["status"] == "COMPLETED", log["errorMessage"]
    assert await _names(api) == names
    restored = folder / backup["filename"]
    assert hashlib.sha256(restored.read_bytes()).hexdigest() == backup["checksum"]


async def test_deleting_a_backup_deletes_its_remote_copies(copying: tuple[Api, Remote]) -> None:
    api, remote = copying
    backup = await backup_and_wait(api, backupType="PARTIAL")
    await wait_for_copies(api, backup["id"])
    deleted = await api.query(DELETE, {"id": backup["id"], "confirm": backup["filename"]})
    assert deleted["deleteBackup"]["removedCopies"] == [remote.name]
    assert deleted["deleteBackup"]["forgottenCopies"] == []
    assert remote.names() == []


async def test_rotation_deletes_the_copy_on_one_target_and_keeps_the_rest(
    weed: SeaweedFSServer, sshd: SSHServer, tmp_path: Path
) -> None:
    s3, sftp = Remote("s3", weed, "bucket"), Remote("sftp", sshd, "sftp")
    settings = offsite_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", s3.target, sftp.target
    )
    async with open_api(settings) as api:
        backup = await backup_and_wait(api, backupType="PARTIAL")
        await wait_for_copies(api, backup["id"], count=2)
        # What the schedules' rotation calls for one target.
        assert await api.resources.offsite.delete_copy(backup["id"], "bucket") is True
        assert await api.resources.offsite.delete_copy(backup["id"], "bucket") is False
        copies = {c["target"]: c for c in (await copies_of(api, backup["id"]))["copies"]}
        assert copies["bucket"]["status"] == "DELETED"
        assert copies["sftp"]["status"] == "COMPLETED"
        assert s3.names() == []
        assert sftp.names() == [backup["filename"], backup["filename"] + ".manifest.json"]
        assert (settings.backup_dir / backup["filename"]).exists()


async def test_wrong_credentials_fail_the_copy_naming_the_target_and_it_is_retried(
    weed: SeaweedFSServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-secret-" + weed.secret_key[::-1]
    target = {**Remote("s3", weed, "bucket").target, "secret_access_key": wrong}
    settings = offsite_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        target,
        offsite_retry_seconds=0.2,
        offsite_retry_max_seconds=0.5,
    )
    caplog.set_level(logging.DEBUG)
    async with open_api(settings) as api:
        backup = await backup_and_wait(api, backupType="PARTIAL")
        assert backup["status"] == "COMPLETED"

        async def retried() -> dict[str, Any] | None:
            copy: dict[str, Any] = (await copies_of(api, backup["id"]))["copies"][0]
            return copy if copy["attempts"] >= 3 and copy["status"] == "FAILED" else None

        copy = await wait_until(retried, timeout=60)
        assert "offsite target 'bucket'" in copy["error"]
        assert "refused the credentials" in copy["error"]
        assert copy["nextAttemptAt"] is not None
        assert (await copies_of(api, backup["id"]))["status"] == "COMPLETED"
        listed = (await api.post(TARGETS)).text
        # A copy that never completed does not keep its backup from being deleted.
        deleted = await api.query(DELETE, {"id": backup["id"], "confirm": backup["filename"]})
        assert deleted["deleteBackup"]["removedCopies"] == []
        assert not (settings.backup_dir / backup["filename"]).exists()
    assert wrong not in listed and weed.access_key not in listed
    logged = "\n".join(str(record.__dict__) for record in caplog.records)
    assert wrong not in logged


async def test_a_key_the_ssh_server_does_not_know_fails_the_copy_naming_the_target(
    sshd: SSHServer, tmp_path: Path
) -> None:
    import subprocess

    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    target = {**Remote("sftp", sshd, "sftp").target, "private_key_file": str(other)}
    settings = offsite_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", target)
    async with open_api(settings) as api:
        backup = await backup_and_wait(api, backupType="PARTIAL")
        done = await wait_for_copies(api, backup["id"], status="FAILED")
        error = done["copies"][0]["error"]
        assert "offsite target 'sftp'" in error and "refused the key" in error


async def test_a_key_file_others_can_read_is_refused(sshd: SSHServer, tmp_path: Path) -> None:
    key = tmp_path / "readable_key"
    key.write_bytes(sshd.client_key.read_bytes())
    key.chmod(0o644)
    target = {**Remote("sftp", sshd, "sftp").target, "private_key_file": str(key)}
    settings = offsite_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", target)
    async with open_api(settings) as api:
        backup = await backup_and_wait(api, backupType="PARTIAL")
        done = await wait_for_copies(api, backup["id"], status="FAILED")
        assert "0644" in done["copies"][0]["error"]


async def test_a_copy_whose_process_died_is_taken_over_once_its_lease_has_run_out(
    copying: tuple[Api, Remote],
) -> None:
    api, remote = copying
    backup = await backup_and_wait(api, backupType="PARTIAL")
    await wait_for_copies(api, backup["id"])
    await api.resources.offsite.delete_copy(backup["id"], remote.name)
    assert remote.names() == []
    # As a process that died mid-upload leaves it: IN_PROGRESS, its lease run out.
    async with api.resources.engine.begin() as connection:
        await connection.execute(
            update(BackupCopy)
            .where(BackupCopy.backup_id == backup["id"])
            .values(
                status=CopyStatus.IN_PROGRESS, lease_until=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    # copyBackup leaves a running copy alone, and wakes the sweep that finds this one due.
    woken = await api.query(COPY, {"id": backup["id"]})
    assert woken["copyBackup"]["copies"][0]["status"] == "IN_PROGRESS"
    done = await wait_for_copies(api, backup["id"])
    assert done["copies"][0]["verifiedAt"] is not None
    assert remote.names() == [backup["filename"], backup["filename"] + ".manifest.json"]
