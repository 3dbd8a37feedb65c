"""The cache settings refuse what would make a clear destroy what it should not."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.errors import ConfigurationError
from server.settings import load_settings


def test_prefixes_and_folders_come_as_comma_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LUMBUNG_CACHE_REDIS_PREFIX", "app:cache:, app:views:")
    monkeypatch.setenv("LUMBUNG_FILE_CACHE_DIRS", f"{tmp_path}/uploads,{tmp_path}/tmp")
    settings = load_settings(_env_file=None)
    assert settings.cache_redis_prefix == ["app:cache:", "app:views:"]
    assert settings.session_redis_prefix == ["sess:"]
    assert settings.file_cache_dirs == [f"{tmp_path}/uploads", f"{tmp_path}/tmp"]


@pytest.mark.parametrize("value", ["", " , ", '[""]'])
def test_an_empty_prefix_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LUMBUNG_CACHE_REDIS_PREFIX", value)
    with pytest.raises(ConfigurationError, match="empty prefix would match every key"):
        load_settings(_env_file=None)


def test_a_cache_prefix_that_covers_the_sessions_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LUMBUNG_CACHE_REDIS_PREFIX", "app:")
    monkeypatch.setenv("LUMBUNG_SESSION_REDIS_PREFIX", "app:sess:")
    with pytest.raises(ConfigurationError, match="overlap"):
        load_settings(_env_file=None)


@pytest.mark.parametrize("folder", ["data", ".", "/", "backups/.."])
def test_a_cache_folder_holding_lumbungs_own_files_is_refused(
    monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    monkeypatch.setenv("LUMBUNG_FILE_CACHE_DIRS", folder)
    with pytest.raises(ConfigurationError, match="cache folder"):
        load_settings(_env_file=None)
