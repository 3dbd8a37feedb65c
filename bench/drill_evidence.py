"""What the drill evidence costs a backup: the same FULL backup, made by Lumbung's own backup
job, with LUMBUNG_BACKUP_EVIDENCE on and off, beside the native `mariadb-dump | zstd -3` run
with the server's own dump arguments (`dump_arguments` in server/backup/adapters/mysql_tools.py).

Per run, in an order that rotates with the run's number (no side always follows another):
native, Lumbung with evidence, Lumbung without. Each timed backup starts after `sync` on a
settled machine; the files are deleted between runs. The database is bench/bigdb.py's (~1 GB
of SQL at the default size). Also measured once: the checksum pass alone (CHECKSUM TABLE ...
EXTENDED of every table, what the evidence asks of the server), and how long the evidence
held writes back (`lockMs`, from the catalog). Writes bench/results/drill_evidence.json (then
bench/RESULTS.md).

    .venv/bin/python -m bench.drill_evidence [--rows 1200000] [--runs 9] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pymysql

from bench import bigdb
from bench.harness import (
    BenchmarkError,
    compare,
    facts,
    log,
    median,
    package_version,
    publish,
    result_options,
    run,
    tool_version,
)
from server.auth.keys import resolve_token_keys
from server.backup.adapters.base import DumpPlan
from server.backup.adapters.mysql_tools import dump_arguments
from server.backup.plan import BackupRequest
from server.db.enums import BackupType
from server.db.migrate import LUMBUNG_TABLES
from server.db.models import Backup
from server.resources import Resources, open_resources
from server.settings import Settings
from tests.support.binaries import ensure_binaries
from tests.support.mariadb import MariaDBServer

NAME = "drill_evidence"
DATABASE = "bench_evidence"
SIDES = ("native", "on", "off")
QUICK_ROWS = 20_000


def settle() -> None:
    subprocess.run(["sync"], check=True)
    time.sleep(1.0)


def native_argv(options: Path) -> list[str]:
    """The server's own dump arguments for a FULL backup without Lumbung's catalog."""
    plan = DumpPlan(
        full=True,
        tables=[],
        exclude=sorted(LUMBUNG_TABLES),
        include_schema=True,
        include_data=True,
    )
    return dump_arguments(None, DATABASE, plan, str(options))


def native(argv: list[str], target: Path) -> float:
    started = time.monotonic()
    with target.open("wb") as out:
        dumper = subprocess.Popen(argv, stdout=subprocess.PIPE)
        assert dumper.stdout is not None
        subprocess.run(["zstd", "-3", "-q"], stdin=dumper.stdout, stdout=out, check=True)
        dumper.stdout.close()
        if dumper.wait() != 0:
            raise BenchmarkError("mariadb-dump failed")
    return time.monotonic() - started


async def lumbung(resources: Resources) -> tuple[float, int | None]:
    started = time.monotonic()
    job = await resources.backups.start(BackupRequest(BackupType.FULL), 0)
    await job.task
    seconds = time.monotonic() - started
    async with resources.sessions() as session:
        row = await session.get(Backup, job.row.id)
    assert row is not None
    if row.error_message:
        raise BenchmarkError(row.error_message)
    resources.folder.remove(row.filename)
    lock_ms = row.evidence.get("lockMs") if row.evidence else None
    return seconds, None if lock_ms is None else int(lock_ms)


def checksum_pass(db: MariaDBServer) -> float:
    connection = pymysql.connect(
        host=db.host, port=db.port, user=db.user, password=db.password, database=DATABASE
    )
    started = time.monotonic()
    with connection.cursor() as cursor:
        for table in bigdb.TABLES:
            cursor.execute(f"CHECKSUM TABLE `{table}` EXTENDED")
            cursor.fetchall()
    connection.close()
    return time.monotonic() - started


def settings_for(url: str, folder: Path, *, evidence: bool) -> Settings:
    return Settings(
        _env_file=None,
        database_url=url,
        data_dir=folder / "data",
        backup_dir=folder / ("backups-on" if evidence else "backups-off"),
        jwt_secret="x" * 48,
        log_format="text",
        log_level="WARNING",
        scheduler=False,
        backup_evidence=evidence,
    )


async def measure(rows: int, runs: int) -> dict[str, Any]:
    with MariaDBServer() as db, tempfile.TemporaryDirectory(prefix="lb-evidence-") as work:
        folder = Path(work)
        url = db.create_database(DATABASE)
        log(f"generating {rows:,} messages")
        await asyncio.to_thread(bigdb.generate, db, DATABASE, url, rows, log)
        argv = native_argv(db.write_client_option_file(folder / "client.cnf"))
        with_evidence = settings_for(url, folder, evidence=True)
        without = settings_for(url, folder, evidence=False)
        on = await open_resources(with_evidence, resolve_token_keys(with_evidence))
        off = await open_resources(without, resolve_token_keys(without))
        times: dict[str, list[float]] = {side: [] for side in SIDES}
        locks: list[int] = []
        per_run: list[dict[str, Any]] = []
        try:
            for number in range(runs):
                order = list(SIDES[number % 3 :] + SIDES[: number % 3])
                for side in order:
                    settle()
                    if side == "native":
                        target = folder / "native.sql.zst"
                        times[side].append(native(argv, target))
                        target.unlink()
                    else:
                        seconds, lock_ms = await lumbung(on if side == "on" else off)
                        times[side].append(seconds)
                        if side == "on" and lock_ms is not None:
                            locks.append(lock_ms)
                per_run.append(
                    {"run": number + 1, "order": order, **{s: times[s][-1] for s in SIDES}}
                )
                log(
                    f"run {number + 1}/{runs}: "
                    + ", ".join(f"{side} {times[side][-1]:.2f} s" for side in SIDES)
                )
            settle()
            alone = checksum_pass(db)
        finally:
            await on.close()
            await off.close()
        version = tool_version(argv[0], "--version")
    # The option file's temp path means nothing in a result: shown as what it is.
    shown = shlex.join(
        [Path(argv[0]).name]
        + [
            "--defaults-file=<client options>" if arg.startswith("--defaults-file=") else arg
            for arg in argv[1:]
        ]
    )
    return {
        "benchmark": NAME,
        **facts(),
        "versions": f"{version}; {tool_version('zstd', '--version').strip('* ')}; "
        f"Lumbung {package_version('lumbung')}, PyMySQL {package_version('pymysql')}",
        "rows": rows,
        "runs": runs,
        "native_command": f"{shown} | zstd -3",
        "per_run": per_run,
        "medians": {side: round(median(values), 2) for side, values in times.items()},
        "off_vs_native": compare(times["native"], times["off"]).as_data(),
        "on_vs_native": compare(times["native"], times["on"]).as_data(),
        "on_vs_off": compare(times["off"], times["on"]).as_data(),
        "checksum_pass_s": round(alone, 2),
        "lock_ms": {"median": median(locks) if locks else 0, "max": max(locks, default=0)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=bigdb.ROWS_DEFAULT)
    parser.add_argument("--runs", type=int, default=9)
    result_options(parser, f"{QUICK_ROWS:,} messages, one run")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.rows, arguments.runs = QUICK_ROWS, 1
    ensure_binaries()
    os.environ.pop("LUMBUNG_BACKUP_EVIDENCE", None)
    data = asyncio.run(measure(arguments.rows, arguments.runs))
    publish(NAME, data, write=not (arguments.no_write or arguments.quick))
    return 0


if __name__ == "__main__":
    run(main)
