"""/admin serves the page under a strict Content-Security-Policy (or nothing, when switched
off), and GET /backups/{id}/file (HEAD, and POST with the token in a form) hands an admin the
backup's bytes and refuses everyone else with the API's own error codes."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.backup.helpers import backup_and_wait
from tests.support.app import Api, make_settings, open_api


@pytest.fixture
async def sqlite_api(tmp_path: Path) -> AsyncIterator[Api]:
    async with open_api(
        make_settings(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", tmp_path)
    ) as api:
        yield api


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


async def test_the_page_comes_with_a_strict_content_security_policy(sqlite_api: Api) -> None:
    redirect = await sqlite_api.client.get("/admin")
    assert redirect.status_code in (307, 308)
    assert redirect.headers["location"].endswith("/admin/")

    for path in ("/admin/", "/admin/js/main.js", "/admin/admin.css"):
        response = await sqlite_api.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        policy = _policy(response.headers["content-security-policy"])
        assert policy["default-src"] == ["'self'"]
        # No inline script or style, nothing from elsewhere.
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["object-src"] == ["'none'"]
    page = (await sqlite_api.client.get("/admin/")).text
    assert '<script type="module" src="js/main.js"></script>' in page
    assert "<style" not in page and "onclick" not in page
    script = await sqlite_api.client.get("/admin/js/main.js")
    assert script.headers["content-type"].split(";")[0] in (
        "text/javascript",
        "application/javascript",
    )


async def test_a_host_header_that_is_no_host_gets_no_socket_source(sqlite_api: Api) -> None:
    response = await sqlite_api.client.get("/admin/", headers={"Host": "evil; script-src *"})
    policy = _policy(response.headers["content-security-policy"])
    assert policy["connect-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]


async def test_the_page_can_be_switched_off(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", tmp_path, admin_page=False
    )
    async with open_api(settings) as api:
        assert (await api.client.get("/admin/")).status_code == 404
        assert (await api.client.get("/admin/js/main.js")).status_code == 404
        # The download is part of the API, not of the page: it stays.
        refused = await api.client.get("/backups/1/file")
        assert refused.status_code == 401


async def test_an_admin_downloads_the_backup_file_as_it_lies_on_disk(
    sqlite_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lumbung.audit")
    backup = await backup_and_wait(sqlite_api, backupType="FULL")
    assert backup["status"] == "COMPLETED"
    on_disk = (sqlite_api.settings.backup_dir / backup["filename"]).read_bytes()

    response = await sqlite_api.client.get(
        f"/backups/{backup['id']}/file",
        headers={"Authorization": f"Bearer {sqlite_api.token()}"},
    )
    assert response.status_code == 200
    assert response.content == on_disk
    assert response.headers["content-disposition"] == f'attachment; filename="{backup["filename"]}"'
    assert response.headers["content-type"] == "application/octet-stream"
    assert int(response.headers["content-length"]) == len(on_disk)
    assert response.headers["x-backup-sha256"] == hashlib.sha256(on_disk).hexdigest()
    assert backup["checksum"] == hashlib.sha256(on_disk).hexdigest()
    # One audit line: who took which backup, never the token.
    [record] = [r for r in caplog.records if getattr(r, "event", None) == "backup.download"]
    assert record.name == "lumbung.audit"
    assert (record.sub, record.backup_id, record.bytes) == ("1", backup["id"], len(on_disk))  # type: ignore[attr-defined]


async def test_a_download_is_refused_without_an_admin_token(sqlite_api: Api) -> None:
    backup = await backup_and_wait(sqlite_api, backupType="FULL")
    path = f"/backups/{backup['id']}/file"
    cases = [
        ({}, 401, "UNAUTHENTICATED"),
        ({"Authorization": "Bearer not-a-token"}, 401, "UNAUTHENTICATED"),
        ({"Authorization": f"Token {sqlite_api.token()}"}, 401, "UNAUTHENTICATED"),
        ({"Authorization": f"Bearer {sqlite_api.token(roles=['viewer'])}"}, 403, "FORBIDDEN"),
    ]
    for headers, status, code in cases:
        response = await sqlite_api.client.get(path, headers=headers)
        assert response.status_code == status, headers
        body = response.json()
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == code
        assert backup["filename"] not in response.text
    expired = sqlite_api.token(ttl=timedelta(seconds=-60))
    response = await sqlite_api.client.get(path, headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_download_of_what_has_no_file_says_why(sqlite_api: Api) -> None:
    admin = {"Authorization": f"Bearer {sqlite_api.token()}"}
    missing = await sqlite_api.client.get("/backups/999/file", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["errors"][0] == {
        "message": "There is no backup 999.",
        "extensions": {"code": "NOT_FOUND"},
    }

    backup = await backup_and_wait(sqlite_api, backupType="FULL")
    (sqlite_api.settings.backup_dir / backup["filename"]).unlink()
    gone = await sqlite_api.client.get(f"/backups/{backup['id']}/file", headers=admin)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "missing from the backup folder" in gone.json()["errors"][0]["message"]


async def test_head_says_size_and_checksum_without_the_file(
    sqlite_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lumbung.audit")
    backup = await backup_and_wait(sqlite_api, backupType="FULL")
    on_disk = (sqlite_api.settings.backup_dir / backup["filename"]).read_bytes()
    path = f"/backups/{backup['id']}/file"
    response = await sqlite_api.client.head(
        path, headers={"Authorization": f"Bearer {sqlite_api.token()}"}
    )
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == len(on_disk)
    assert response.headers["x-backup-sha256"] == hashlib.sha256(on_disk).hexdigest()
    # Nothing was handed over, so nothing is audited as a download.
    assert not [r for r in caplog.records if getattr(r, "event", None) == "backup.download"]
    assert (await sqlite_api.client.head(path)).status_code == 401


async def test_a_browser_form_posts_the_token_and_gets_the_file(sqlite_api: Api) -> None:
    backup = await backup_and_wait(sqlite_api, backupType="FULL")
    on_disk = (sqlite_api.settings.backup_dir / backup["filename"]).read_bytes()
    path = f"/backups/{backup['id']}/file"

    response = await sqlite_api.client.post(path, data={"token": sqlite_api.token()})
    assert response.status_code == 200
    assert response.content == on_disk
    assert response.headers["content-disposition"] == f'attachment; filename="{backup["filename"]}"'

    refusals = [
        ({"data": {}}, 401, "UNAUTHENTICATED"),
        ({"data": {"other": "1"}}, 401, "UNAUTHENTICATED"),
        ({"data": {"token": "not-a-token"}}, 401, "UNAUTHENTICATED"),
        ({"data": {"token": sqlite_api.token(roles=["viewer"])}}, 403, "FORBIDDEN"),
        ({"json": {"token": sqlite_api.token()}}, 400, "BAD_USER_INPUT"),
        ({"data": {"token": "x" * 20_000}}, 400, "BAD_USER_INPUT"),
    ]
    for request, status, code in refusals:
        refused = await sqlite_api.client.post(path, **request)  # type: ignore[arg-type]
        assert refused.status_code == status, (request, refused.text[:200])
        assert refused.json()["errors"][0]["extensions"]["code"] == code
        assert backup["filename"] not in refused.text
