"""Rotation per offsite target, on a real S3 server (SeaweedFS) and a real SFTP server
(OpenSSH): a schedule's retention applies to the copies each target holds, deleting through
delete_copy while the backup stays here; the newest good copy on a target is never deleted
(not by the target's rotation, and not with its backup by the local one); a target that is
down loses nothing and the run says so; the schedule's history records it all."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.offsite.conftest import Remote, copies_of, offsite_settings
from tests.schedule.helpers import FakeClock, create_schedule, tick
from tests.support.app import Api, open_api
from tests.support.seaweedfs import SeaweedFSServer
from tests.support.sshd import SSHServer
from tests.support.waiting import wait_until

START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)
KEEP_ONE = {"keepLast": 1, "keepDaily": 0, "keepWeekly": 0, "keepMonthly": 0, "keepYearly": 0}
KEEP_TWO = {**KEEP_ONE, "keepLast": 2}
LAST_RUN = """query ($id: Int!) { schedule(id: $id) { runs(limit: 1) { items {
  status backupId rotated rotatedCopies errorMessage } } } }"""
PREVIEW = """query ($id: Int!) { retentionPreview(scheduleId: $id) { deleteCount
  items { keep reasons details backup { id } }
  targets { target deleteCount items { keep reasons details backup { id } } } } }"""
BACKUP = "query ($id: Int!) { backup(id: $id) { id filename status } }"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(params=["s3", "sftp"])
def own_remote(request: pytest.FixtureRequest) -> Iterator[Remote]:
    """A target of each kind on a server of this test's own, to take down and bring back."""
    server: SeaweedFSServer | SSHServer
    if request.param == "s3":
        server = SeaweedFSServer().start()
        name = "bucket"
    else:
        server = SSHServer().start()
        name = "sftp"
    try:
        yield Remote(request.param, server, name)
    finally:
        server.cleanup()


@pytest.fixture
async def own_api(own_remote: Remote, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Api]:
    settings = offsite_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        own_remote.target,
        offsite_retry_seconds=3600,  # no retry on its own: the tests start them
    )
    async with open_api(settings, clock=clock) as api:
        yield api


async def _nightly(api: Api, retention: dict[str, int]) -> int:
    schedule = await create_schedule(
        api,
        name="nightly",
        timing={"frequency": "DAILY", "timeOfDay": "02:30"},
        backup={"backupType": "FULL"},
        retention=retention,
    )
    return int(schedule["id"])


async def _night(api: Api, clock: FakeClock, schedule_id: int, day: int) -> dict[str, Any]:
    """The schedule's run of night `day` (its backup, then rotation), to its end."""
    clock.set(START + timedelta(days=day, hours=2, minutes=30, seconds=5))
    assert await tick(api.resources.scheduler) == 1
    runs = (await api.query(LAST_RUN, {"id": schedule_id}))["schedule"]["runs"]["items"]
    run: dict[str, Any] = runs[0]
    assert run["status"] == "COMPLETED", run["errorMessage"]
    return run


async def _copies_reach(api: Api, backup_id: int, **states: str) -> dict[str, Any]:
    """The backup once its copy on each named target has the given status."""

    async def reached() -> dict[str, Any] | None:
        backup = await copies_of(api, backup_id)
        now = {copy["target"]: copy["status"] for copy in backup["copies"]}
        return backup if now == states else None

    try:
        result: dict[str, Any] = await wait_until(reached, timeout=120)
    except AssertionError:
        raise AssertionError(f"copies never {states}: {await copies_of(api, backup_id)}") from None
    return result


async def _filename(api: Api, backup_id: int) -> str:
    return str((await api.query(BACKUP, {"id": backup_id}))["backup"]["filename"])


def _files(name: str) -> list[str]:
    return [name, name + ".manifest.json"]


async def test_each_target_is_rotated_by_the_schedules_policy_and_keeps_its_newest_good_copy(
    weed: SeaweedFSServer, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Two targets: S3, and an SFTP server that is down for two nights. The SFTP target's
    newest good copy keeps its backup here, while the S3 target lets that backup's copy go
    (its own rotation); once the SFTP copies catch up, both go with the backup."""
    with SSHServer() as sshd:
        s3, sftp = Remote("s3", weed, "bucket"), Remote("sftp", sshd, "sftp")
        settings = offsite_settings(
            tmp_path,
            f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
            s3.target,
            sftp.target,
            offsite_retry_seconds=3600,
        )
        async with open_api(settings, clock=clock) as api:
            caplog.set_level(logging.INFO, logger="lumbung.audit")
            schedule_id = await _nightly(api, KEEP_TWO)
            first = (await _night(api, clock, schedule_id, 0))["backupId"]
            await _copies_reach(api, first, bucket="COMPLETED", sftp="COMPLETED")
            first_file = await _filename(api, first)

            sshd.kill()
            second = (await _night(api, clock, schedule_id, 1))["backupId"]
            await _copies_reach(api, second, bucket="COMPLETED", sftp="FAILED")
            third_run = await _night(api, clock, schedule_id, 2)
            third = third_run["backupId"]

            # Here: the two newest, and the first for the SFTP target's sake. On S3 the
            # first's copy went by that target's own rotation; on SFTP it stays.
            assert third_run["rotated"] == []
            assert third_run["rotatedCopies"] == [f"#{first} {first_file} on bucket"]
            assert third_run["errorMessage"] is None
            assert (api.settings.backup_dir / first_file).is_file()
            assert not set(_files(first_file)) & set(s3.names())
            assert set(_files(first_file)) <= set(sftp.names())
            states = {c["target"]: c["status"] for c in (await copies_of(api, first))["copies"]}
            assert states == {"bucket": "DELETED", "sftp": "COMPLETED"}
            audited = [
                r for r in caplog.records if getattr(r, "event", "") == "audit.rotation_copy"
            ]
            assert [(r.backup, r.target, r.reason) for r in audited] == [  # type: ignore[attr-defined]
                (first, "bucket", "unselected")
            ]

            preview = (await api.query(PREVIEW, {"id": schedule_id}))["retentionPreview"]
            local = {item["backup"]["id"]: item for item in preview["items"]}
            assert local[first]["keep"] is True
            assert local[first]["reasons"] == ["NEWEST_COPY"]
            assert local[first]["details"] == ["the newest good copy on sftp"]
            targets = {t["target"]: t for t in preview["targets"]}
            assert [i["backup"]["id"] for i in targets["bucket"]["items"]] == [third, second]
            on_sftp = {i["backup"]["id"]: i for i in targets["sftp"]["items"]}
            assert list(on_sftp) == [third, second, first]
            assert on_sftp[first]["reasons"] == ["NEWEST_COPY"]
            assert preview["deleteCount"] == 0
            assert targets["sftp"]["deleteCount"] == 0

            await _copies_reach(api, third, bucket="COMPLETED", sftp="FAILED")
            sshd.start()
            for late in (second, third):
                await api.resources.offsite.copy_now(late, "sftp")
                await _copies_reach(api, late, bucket="COMPLETED", sftp="COMPLETED")
            second_file = await _filename(api, second)
            fourth_run = await _night(api, clock, schedule_id, 3)

            # The SFTP target has newer good copies now: the first and second backups go,
            # here and on every target, through the one delete path.
            assert fourth_run["rotated"] == [f"#{second} {second_file}", f"#{first} {first_file}"]
            assert fourth_run["rotatedCopies"] == []
            for gone in (first_file, second_file):
                assert not (api.settings.backup_dir / gone).exists()
                assert not set(_files(gone)) & set(s3.names())
                assert not set(_files(gone)) & set(sftp.names())


async def test_the_newest_good_copy_keeps_its_backup_and_a_target_down_loses_nothing(
    own_remote: Remote, own_api: Api, clock: FakeClock
) -> None:
    api, remote = own_api, own_remote
    schedule_id = await _nightly(api, KEEP_ONE)
    first = (await _night(api, clock, schedule_id, 0))["backupId"]
    await _copies_reach(api, first, **{remote.name: "COMPLETED"})
    first_file = await _filename(api, first)

    # The target goes down: the newer backups' copies fail, and the first backup, whose
    # copy is the only good one there, is kept whole although keepLast is 1.
    remote.server.kill()
    second_run = await _night(api, clock, schedule_id, 1)
    second = second_run["backupId"]
    second_file = await _filename(api, second)
    assert (second_run["rotated"], second_run["rotatedCopies"]) == ([], [])
    await _copies_reach(api, second, **{remote.name: "FAILED"})
    preview = (await api.query(PREVIEW, {"id": schedule_id}))["retentionPreview"]
    local = {item["backup"]["id"]: (item["keep"], item["reasons"]) for item in preview["items"]}
    assert local == {second: (True, ["LAST", "NEWEST_VERIFIED"]), first: (True, ["NEWEST_COPY"])}
    (on_target,) = preview["targets"]
    assert on_target["target"] == remote.name
    assert [(i["backup"]["id"], i["reasons"]) for i in on_target["items"]] == [
        (second, ["LAST"]),
        (first, ["NEWEST_COPY"]),
    ]

    # A backup whose copy never completed goes, even while the target is down.
    third_run = await _night(api, clock, schedule_id, 2)
    third = third_run["backupId"]
    assert third_run["rotated"] == [f"#{second} {second_file}"]
    assert third_run["rotatedCopies"] == []
    assert third_run["errorMessage"] is None
    assert not (api.settings.backup_dir / second_file).exists()
    await _copies_reach(api, third, **{remote.name: "FAILED"})

    # Back up: the third backup's copy completes, and the first one is no longer needed.
    remote.server.start()
    await api.resources.offsite.copy_now(third, remote.name)
    await _copies_reach(api, third, **{remote.name: "COMPLETED"})
    preview = (await api.query(PREVIEW, {"id": schedule_id}))["retentionPreview"]
    local = {item["backup"]["id"]: (item["keep"], item["reasons"]) for item in preview["items"]}
    assert local[first] == (False, ["UNSELECTED"])

    # Down again when rotation would delete it: nothing of it is lost, the run says so, and
    # the next rotation, with the target back, deletes it here and there.
    remote.server.kill()
    fourth_run = await _night(api, clock, schedule_id, 3)
    assert fourth_run["rotated"] == [] and fourth_run["rotatedCopies"] == []
    assert fourth_run["errorMessage"].startswith("Rotation left what it could not delete")
    assert f"#{first}" in fourth_run["errorMessage"]
    assert f"offsite target '{remote.name}'" in fourth_run["errorMessage"]
    assert (api.settings.backup_dir / first_file).is_file()
    assert [c["status"] for c in (await copies_of(api, first))["copies"]] == ["COMPLETED"]
    remote.server.start()
    assert set(_files(first_file)) <= set(remote.names())

    fifth_run = await _night(api, clock, schedule_id, 4)
    assert f"#{first} {first_file}" in fifth_run["rotated"]
    assert fifth_run["errorMessage"] is None
    assert not (api.settings.backup_dir / first_file).exists()
    assert not set(_files(first_file)) & set(remote.names())
