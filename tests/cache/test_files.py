"""FILE and session files on real folders: regular files go, nothing outside is ever touched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from server.cache.files import clear_folder
from server.cache.request import build_request
from server.cache.results import ItemStatus
from server.db.enums import CacheType
from server.errors import ErrorCode
from tests.cache.conftest import cache_settings, opened


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Precious files outside every cache folder, which links inside them point at."""
    folder = tmp_path / "precious"
    (folder / "inner").mkdir(parents=True)
    (folder / "keep.txt").write_text("keep")
    (folder / "inner" / "deep.txt").write_text("deep")
    return folder


def tree(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def test_regular_files_go_and_folders_stay(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "a" / "b").mkdir(parents=True)
    for name in ("1.tmp", "a/2.tmp", "a/b/3.tmp"):
        (cache / name).write_bytes(b"x" * 1000)

    report = clear_folder(cache)

    assert (report.removed, report.removed_bytes) == (3, 3000)
    assert tree(cache) == {"a", "a/b"}


def test_a_symlink_to_a_file_outside_is_left_and_its_target_survives(
    tmp_path: Path, outside: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "link.txt").symlink_to(outside / "keep.txt")
    (cache / "junk.tmp").write_text("junk")

    report = clear_folder(cache)

    assert (report.removed, report.kept_not_regular) == (1, 1)
    assert (outside / "keep.txt").read_text() == "keep"
    assert (cache / "link.txt").is_symlink()


def test_a_symlink_to_a_folder_outside_is_never_entered(tmp_path: Path, outside: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "sub").mkdir(parents=True)
    (cache / "dirlink").symlink_to(outside, target_is_directory=True)
    (cache / "sub" / "innerlink").symlink_to(outside / "inner", target_is_directory=True)
    (cache / "sub" / "junk.tmp").write_text("junk")

    report = clear_folder(cache)

    assert report.removed == 1
    assert report.kept_not_regular == 2
    assert tree(outside) == {"keep.txt", "inner", "inner/deep.txt"}


def test_files_newer_than_the_minimum_age_stay(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    old, new = cache / "old.tmp", cache / "new.tmp"
    old.write_text("old")
    new.write_text("new")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))

    report = clear_folder(cache, min_age_seconds=30 * 60)

    assert (report.removed, report.kept_too_new) == (1, 1)
    assert tree(cache) == {"new.tmp"}


def test_a_dry_run_counts_and_leaves_every_file(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    for n in range(5):
        (cache / f"{n}.tmp").write_text("x")

    report = clear_folder(cache, dry_run=True)

    assert report.removed == 5
    assert len(tree(cache)) == 5


async def test_file_clears_every_configured_folder_and_logs_each(
    tmp_path: Path, namespace: str, outside: Path
) -> None:
    uploads, temp, real = tmp_path / "uploads", tmp_path / "temp-link", tmp_path / "temp-real"
    uploads.mkdir()
    real.mkdir()
    # A configured folder that is itself a symlink is cleared where it points (like find -H).
    temp.symlink_to(real, target_is_directory=True)
    (uploads / "u.bin").write_bytes(b"u" * 2000)
    (uploads / "escape").symlink_to(outside, target_is_directory=True)
    (real / "t.tmp").write_text("t")
    settings = cache_settings(tmp_path, namespace, None, file_cache_dirs=[str(uploads), str(temp)])

    async with opened(settings) as resources:
        outcome = await resources.caches.clear(
            build_request(cache_type=CacheType.FILE, description="weekly"), actor_id=3
        )

    assert [(item.name, item.status, item.count) for item in outcome.items] == [
        (f"Files in {uploads}", ItemStatus.CLEARED, 1),
        (f"Files in {temp}", ItemStatus.CLEARED, 1),
    ]
    assert outcome.items[0].detail == "2.0 KB; 1 symlink or special file left alone"
    assert tree(real) == set()
    assert tree(outside) == {"keep.txt", "inner", "inner/deep.txt"}
    assert outcome.log is not None
    assert outcome.log.cleared_items == [
        f"Files in {uploads} (1): 2.0 KB; 1 symlink or special file left alone",
        f"Files in {temp} (1): 1 B",
    ]
    assert (outcome.log.cleared_by, outcome.log.description) == (3, "weekly")


async def test_a_folder_that_leads_into_lumbungs_data_is_refused(
    tmp_path: Path, namespace: str
) -> None:
    # The settings refuse such a folder by its path; a symlink can still lead there later.
    link = tmp_path / "innocent"
    settings = cache_settings(tmp_path, namespace, None, file_cache_dirs=[str(link)])
    settings.data_dir.mkdir()
    (settings.data_dir / "lumbung.db").write_text("precious")
    async with opened(settings) as resources:
        link.symlink_to(settings.data_dir, target_is_directory=True)
        outcome = await resources.caches.clear(build_request(cache_type=CacheType.FILE), actor_id=1)

    [item] = outcome.items
    assert (item.status, item.code) == (ItemStatus.FAILED, ErrorCode.FORBIDDEN)
    assert "holds Lumbung's data folder" in (item.detail or "")
    assert (settings.data_dir / "lumbung.db").read_text() == "precious"


async def test_a_missing_folder_is_nothing_to_clear(tmp_path: Path, namespace: str) -> None:
    settings = cache_settings(
        tmp_path, namespace, None, file_cache_dirs=[str(tmp_path / "not-yet")]
    )
    async with opened(settings) as resources:
        outcome = await resources.caches.clear(build_request(cache_type=CacheType.FILE), actor_id=1)

    [item] = outcome.items
    assert item.status is ItemStatus.SKIPPED
    assert outcome.message.startswith("Nothing to clear")


async def test_session_files_go_by_name_and_age(tmp_path: Path, namespace: str) -> None:
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    for sid in ("abc", "abd", "xyz"):
        (sessions / f"{sid}.json").write_text("{}")
    (sessions / "xyz.json").touch()
    an_hour_ago = time.time() - 3600
    for sid in ("abc", "abd"):
        os.utime(sessions / f"{sid}.json", (an_hour_ago, an_hour_ago))
    settings = cache_settings(tmp_path, namespace, None, session_dir=sessions)

    async with opened(settings) as resources:
        caches = resources.caches
        picked = await caches.clear(
            build_request(cache_type=CacheType.SESSION, specific_keys=["abc.json"]), actor_id=1
        )
        expired = await caches.clear(
            build_request(cache_type=CacheType.SESSION, older_than_minutes=30), actor_id=1
        )

    assert picked.total_cleared == 1
    assert expired.total_cleared == 1
    assert tree(sessions) == {"xyz.json"}
