"""What a failed job tells its clients: the public message, never a driver's own words."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from tests.backup.helpers import backup_and_wait, restore_and_wait
from tests.support.app import Api

# What a driver says when it fails: a user, a host and SQL, none of it for clients to read.
DRIVER_TEXT = (
    "(1045, \"Access denied for user 'app'@'db7.internal.example' (using password: YES)\") "
    "[SQL: SELECT VERSION()]"
)


def _referenced_cause(caplog: pytest.LogCaptureFixture, message: str) -> BaseException:
    """The exception logged under the reference that `message` names."""
    found = re.search(r"reference ([0-9a-f]{8})", message)
    assert found, message
    logged = [r for r in caplog.records if getattr(r, "reference", None) == found.group(1)]
    assert len(logged) == 1 and logged[0].exc_info is not None
    cause = logged[0].exc_info[1]
    assert cause is not None
    return cause


async def test_an_unexpected_backup_failure_shows_a_reference_not_the_drivers_words(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A stand-in: an unexpected error is a bug, which no real server produces on demand. The
    # adapter's first call of the job raises what a driver's error would say.
    async def broken() -> Any:
        raise RuntimeError(DRIVER_TEXT)

    monkeypatch.setattr(api.resources.adapter, "server_version", broken)
    caplog.set_level(logging.ERROR, logger="lumbung.errors")
    backup = await backup_and_wait(api, backupType="FULL")
    assert backup["status"] == "FAILED"
    message = backup["errorMessage"]
    assert message.startswith("Unexpected error (reference ")
    assert "db7.internal.example" not in message and "RuntimeError" not in message
    assert str(_referenced_cause(caplog, message)) == DRIVER_TEXT


async def test_an_unexpected_restore_failure_shows_a_reference_not_the_drivers_words(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    backup = await backup_and_wait(api, backupType="SELECTIVE", tables=["Role"])
    assert backup["status"] == "COMPLETED", backup["errorMessage"]

    def broken(*args: Any) -> None:  # the same stand-in, where the restore feeds the database
        raise RuntimeError(DRIVER_TEXT)

    monkeypatch.setattr(api.resources.adapter, "restore", broken)
    caplog.set_level(logging.ERROR, logger="lumbung.errors")
    log = await restore_and_wait(api, backup)
    assert log["status"] == "FAILED"
    message = log["errorMessage"]
    assert message.startswith("Restore failed: Unexpected error (reference "), message
    assert "db7.internal.example" not in message and "RuntimeError" not in message
    assert str(_referenced_cause(caplog, message)) == DRIVER_TEXT
