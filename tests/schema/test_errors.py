"""Unexpected errors are masked in production and carry INTERNAL; expected ones keep their words."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from schema.errors import MASKED_MESSAGE
from server.system import tables
from tests.support.app import make_settings, open_api

SECRET_DETAIL = "connection to 10.0.0.7 as root failed"


async def _boom(*args: object, **kwargs: object) -> list[object]:
    raise RuntimeError(SECRET_DETAIL)


@pytest.mark.parametrize("environment", ["production", "development"])
async def test_an_unexpected_error_is_masked_only_in_production(
    environment: str,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("schema.queries.list_tables", _boom)
    settings = make_settings(database_url, tmp_path, environment=environment, migrate_on_start=True)
    caplog.set_level(logging.ERROR, logger="lumbung.graphql")
    async with open_api(settings) as api:
        response = await api.post("{ tables { name } }")
        body = response.json()
        [error] = body["errors"]
        assert error["extensions"] == {"code": "INTERNAL"}
        if environment == "production":
            assert error["message"] == MASKED_MESSAGE
            assert SECRET_DETAIL not in response.text
            assert "Traceback" not in response.text
        else:
            assert error["message"] == SECRET_DETAIL
        # Either way the operator finds the cause in the log, with its traceback.
        assert SECRET_DETAIL in caplog.text
    assert tables.list_tables is not _boom


async def test_expected_errors_keep_their_message_in_production(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url, tmp_path, environment="production", migrate_on_start=True
    )
    async with open_api(settings) as api:
        error = await api.error("{ backup(id: 7) { id } }")
        assert error["extensions"]["code"] == "NOT_FOUND"
        assert "No backup has id 7" in error["message"]
