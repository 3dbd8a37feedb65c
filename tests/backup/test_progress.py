"""What a job's progress events say: inside large tables too, never more done than the total,
the real totals at the end, and one overall figure that never goes back."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from server.backup.adapters.base import DumpPlan
from server.backup.adapters.sqlite import SQLiteAdapter
from server.backup.pipeline import BackupPipeline
from server.events.event import ProgressEvent
from tests.backup.helpers import backup_and_wait, restore_and_wait
from tests.support.app import Api, make_settings, open_api

BIG_ROWS = 20_000  # of ~1 KiB: ~20 MiB of SQL, twenty of the dump's 1 MiB batches


def _add_big_table(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE Big (id INTEGER PRIMARY KEY, payload TEXT)")
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO Big SELECT i, hex(randomblob(512)) FROM n",
            (BIG_ROWS,),
        )


def test_a_sqlite_dump_reports_progress_inside_a_large_table(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    _add_big_table(database)
    adapter = SQLiteAdapter(make_settings(f"sqlite+aiosqlite:///{database}", tmp_path))
    seen: list[tuple[int, str | None]] = []
    with (tmp_path / "dump.sql").open("wb") as out:
        pipeline = BackupPipeline(out, "none")
        plan = DumpPlan(False, ["Big"], [], True, True)
        adapter.dump(
            plan,
            pipeline.framer,
            lambda *, sql_bytes, table: seen.append((sql_bytes, table)),
            threading.Event(),
        )
        pipeline.close()
    inside = [done for done, table in seen if table == "Big"]
    assert len(inside) >= 15, "progress only at the table's edges"
    assert inside == sorted(inside) and inside[-1] > 15 * 2**20


def _collect(api: Api) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []
    api.resources.progress.add_listener(events.append)
    return events


def _of(events: list[ProgressEvent], job: str) -> list[ProgressEvent]:
    return [event for event in events if event.job_id == job]


async def test_a_backups_events_never_pass_their_total_and_end_with_the_real_one(
    tmp_path: Path,
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", tmp_path)
    async with open_api(settings) as api:
        _add_big_table(tmp_path / "app.db")  # its SQL outgrows the file-size estimate
        events = _collect(api)
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "COMPLETED", backup["errorMessage"]
        mine = _of(events, f"backup:{backup['id']}")
        assert all(e.bytes_total is None or e.bytes_done <= e.bytes_total for e in mine)
        manifest = (api.settings.backup_dir / (backup["filename"] + ".manifest.json")).read_text()
        sql_bytes = sum(s["sqlBytes"] for s in json.loads(manifest)["sections"])
        final = mine[-1]
        assert final.final and (final.bytes_done, final.bytes_total) == (sql_bytes, sql_bytes)


async def test_the_overall_figure_of_a_restore_never_goes_back(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="FULL")
    events = _collect(api)
    log: dict[str, Any] = await restore_and_wait(api, backup)
    assert log["status"] == "COMPLETED", log["errorMessage"]
    figures = [e.overall_percent for e in _of(events, f"restore:{log['id']}")]
    assert figures == sorted(figures), figures
    assert figures[-1] == 100.0
    assert any(0 < figure < 100 for figure in figures), "the bar jumps from 0 to the end"
    # The phases it went through, each its share of the bar, in order.
    phases = [e.phase for e in _of(events, f"restore:{log['id']}")]
    assert phases.index("dumping") < phases.index("verifying") < phases.index("restoring")
