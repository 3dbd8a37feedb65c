"""/metrics in Prometheus' format, read back with Prometheus' own text parser: not public, and
the same figures whichever worker answers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.backup.helpers import backup_and_wait
from tests.drill.helpers import drill_and_wait
from tests.support.app import make_settings, open_api
from tests.support.lumbung import post, start_server
from tests.support.tokens import JWT_SECRET

TOKEN = "a-metrics-token-0123456789"


def parse(body: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{family: {labels: value}}"""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_metrics_are_off_without_a_token_and_refused_with_a_wrong_one(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    async with open_api(make_settings(url, tmp_path)) as api:
        assert (await api.client.get("/metrics")).status_code == 404
    async with open_api(make_settings(url, tmp_path, metrics_token=TOKEN)) as api:
        assert (await api.client.get("/metrics")).status_code == 401
        wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["WWW-Authenticate"] == "Bearer"
        # An admin's JWT is not the metrics token either.
        jwt = await api.client.get("/metrics", headers={"Authorization": f"Bearer {api.token()}"})
        assert jwt.status_code == 401


async def test_metrics_report_backups_drills_caches_and_storage_from_the_catalog(
    database_url: str, tmp_path: Path
) -> None:
    async with open_api(make_settings(database_url, tmp_path, metrics_token=TOKEN)) as api:
        backup = await backup_and_wait(api, backupType="FULL")
        drill = await drill_and_wait(api, backup["id"])
        await api.query("mutation { clearCache(input: {cacheType: MEMORY}) { message } }")
        response = await api.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    metrics = parse(response.text)
    assert metrics["lumbung_backups"][(("status", "completed"),)] == 1
    assert metrics["lumbung_backups"][(("status", "failed"),)] == 0
    stamp = metrics["lumbung_backup_last_success_timestamp_seconds"][(("backup_type", "full"),)]
    assert abs(stamp - time.time()) < 120
    assert (
        metrics["lumbung_backup_last_size_bytes"][(("backup_type", "full"),)] == backup["fileSize"]
    )
    assert metrics["lumbung_drills"][(("status", "passed"),)] == 1
    assert metrics["lumbung_drill_last_restore_seconds"][()] == drill["durationSeconds"]
    assert metrics["lumbung_cache_clears"][()] == 1
    assert metrics["lumbung_jobs_in_progress"] == {
        (("kind", "backup"),): 0,
        (("kind", "drill"),): 0,
        (("kind", "restore"),): 0,
    }
    assert metrics["lumbung_backup_storage_free_bytes"][()] > 0
    assert metrics["lumbung_backup_storage_used_bytes"][()] == backup["fileSize"]


async def test_every_worker_answers_a_scrape_with_the_same_figures(tmp_path: Path) -> None:
    server = start_server(
        tmp_path,
        {
            "LUMBUNG_JWT_SECRET": JWT_SECRET,
            "LUMBUNG_METRICS_TOKEN": TOKEN,
            "LUMBUNG_DATA_DIR": str(tmp_path / "data"),
            "LUMBUNG_BACKUP_DIR": str(tmp_path / "backups"),
        },
        workers=2,
    )
    try:
        await post(server, "mutation { createBackup(input: {backupType: FULL}) { backup { id } } }")
        bodies: set[str] = set()
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            for _ in range(60):
                response = await client.get(
                    "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                figures = parse(response.text)
                if figures["lumbung_backups"][(("status", "completed"),)] == 1:
                    bodies.add(
                        repr(
                            sorted(
                                (name, sorted(values.items()))
                                for name, values in figures.items()
                                if name.startswith(
                                    ("lumbung_backups", "lumbung_backup_last", "lumbung_jobs")
                                )
                            )
                        )
                    )
                await asyncio.sleep(0.05)
        assert len(bodies) == 1, bodies
    finally:
        server.stop()
