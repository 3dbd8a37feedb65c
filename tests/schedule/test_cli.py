"""`lumbung schedules ...` as a user runs it: real processes on the embedded default."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import run


def test_a_schedule_is_created_run_previewed_and_deleted_from_the_terminal(
    tmp_path: Path,
) -> None:
    created = run(
        "schedules", "create", "nightly", "--backup-type", "partial", "--at", "02:30",
        "--time-zone", "Asia/Jakarta", "--keep-last", "3", cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    schedule_id = created.stdout.strip()
    listed = run("schedules", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert f"{schedule_id}\tnightly\ton\tbackup\t30 2 * * * (Asia/Jakarta)\tnext " in listed.stdout
    assert "never run" in listed.stdout

    ran = run("schedules", "run", schedule_id, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("run 1: completed, backup #1")
    assert len(list((tmp_path / "backups").glob("backup_partial_*.sql.zst"))) == 1

    preview = run("schedules", "preview", schedule_id, cwd=tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.startswith("keep\t#1\tbackup_partial_")
    assert "one of the newest 3 (#1)" in preview.stdout

    updated = run("schedules", "update", schedule_id, "--disable", cwd=tmp_path)
    assert updated.returncode == 0, updated.stderr
    assert "\tnightly\toff\t" in run("schedules", "list", cwd=tmp_path).stdout

    deleted = run("schedules", "delete", schedule_id, cwd=tmp_path)
    assert deleted.returncode == 0, deleted.stderr
    assert run("schedules", "list", cwd=tmp_path).stdout == ""


def test_bad_schedules_are_refused_with_exit_2_and_the_reason(tmp_path: Path) -> None:
    bad_cron = run(
        "schedules", "create", "x", "--clear-cache", "memory", "--frequency", "cron",
        "--cron", "0 24 * * *", cwd=tmp_path,
    )  # fmt: skip
    assert bad_cron.returncode == 2
    assert "malformed: Bad hour field" in bad_cron.stderr
    nothing = run("schedules", "create", "x", cwd=tmp_path)
    assert nothing.returncode == 2
    assert "exactly one of them" in nothing.stderr
    unknown = run("schedules", "run", "99", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "No schedule has id 99" in unknown.stderr
