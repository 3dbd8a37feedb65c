"""What the drill evidence costs a backup: the same FULL backup, made by Lumbung's own backup
job, with LUMBUNG_BACKUP_EVIDENCE on and off, beside the native `mariadb-dump | zstd -3`.

    python bench/drill_evidence.py [--rows 1200000] [--runs 9]

Per run, in an order that rotates with the run's number (no side always follows another):
native, Lumbung with evidence, Lumbung without. Each timed backup starts after `sync` on a
settled machine; the files are deleted between runs. The database is bench/bigdb.py's (~1 GB
of SQL at the default size). Also measured once: the checksum pass alone (CHECKSUM TABLE ...
EXTENDED of every table, what the evidence asks of the server), and how long the evidence
held writes back (`lockMs`, from the catalog).

Results: the "Backup evidence" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness  # bench/: the script's own folder is on sys.path

sys.path.insert(0, str(harness.REPO))  # tests.servers lives in the repo, not in the venv

import bigdb
import pymysql

from server.auth.keys import resolve_token_keys
from server.backup.plan import BackupRequest
from server.db.enums import BackupType
from server.db.models import Backup
from server.resources import Resources, open_resources
from server.settings import Settings
from tests.servers import MariaDBServer

DATABASE = "bench_evidence"
TITLE = "## Backup evidence (restore drills): its cost to a backup"


def settle() -> None:
    subprocess.run(["sync"], check=True)
    time.sleep(1.0)


def native(db: MariaDBServer, options: Path, target: Path) -> float:
    dump = [
        "mariadb-dump",
        f"--defaults-file={options}",
        "--single-transaction",
        "--quick",
        "--hex-blob",
        "--default-character-set=utf8mb4",
        "--max-allowed-packet=1G",
        "--no-tablespaces",
        "--triggers",
        "--routines",
        "--events",
        f"--ignore-table={DATABASE}.lumbung_alembic_version",
        *(
            f"--ignore-table={DATABASE}.{t}"
            for t in (
                "Backup",
                "RestoreLog",
                "CacheLog",
                "RestoreDrill",
                "NotificationChannel",
                "NotificationDelivery",
                "NotificationAlert",
            )
        ),
        "--",
        DATABASE,
    ]
    started = time.monotonic()
    with target.open("wb") as out:
        dumper = subprocess.Popen(dump, stdout=subprocess.PIPE)
        assert dumper.stdout is not None
        subprocess.run(["zstd", "-3", "-q"], stdin=dumper.stdout, stdout=out, check=True)
        dumper.stdout.close()
        if dumper.wait() != 0:
            raise harness.BenchmarkError("mariadb-dump failed")
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
        raise harness.BenchmarkError(row.error_message)
    resources.folder.remove(row.filename)
    lock_ms = row.evidence.get("lockMs") if row.evidence else None
    return seconds, lock_ms


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


async def run(rows: int, runs: int) -> str:
    with MariaDBServer() as db, tempfile.TemporaryDirectory(prefix="lb-evidence-") as work:
        folder = Path(work)
        url = db.create_database(DATABASE)
        harness.log(f"generating {rows:,} messages")
        await asyncio.to_thread(bigdb.generate, db, DATABASE, url, rows, harness.log)
        options = db.write_client_option_file(folder / "client.cnf")
        common = {
            "database_url": url,
            "data_dir": folder / "data",
            "backup_dir": folder / "backups",
            "jwt_secret": "x" * 48,
            "log_format": "text",
            "log_level": "WARNING",
        }
        with_evidence = Settings(_env_file=None, backup_evidence=True, **common)  # type: ignore[arg-type]
        without = Settings(_env_file=None, backup_evidence=False, **common)  # type: ignore[arg-type]
        on = await open_resources(with_evidence, resolve_token_keys(with_evidence))
        off = await open_resources(without, resolve_token_keys(without))
        times: dict[str, list[float]] = {"native": [], "on": [], "off": []}
        locks: list[int] = []
        try:
            for number in range(runs):
                order = ["native", "on", "off"]
                order = order[number % 3 :] + order[: number % 3]
                for side in order:
                    settle()
                    if side == "native":
                        target = folder / "native.sql.zst"
                        times[side].append(native(db, options, target))
                        target.unlink()
                    else:
                        seconds, lock_ms = await lumbung(on if side == "on" else off)
                        times[side].append(seconds)
                        if side == "on" and lock_ms is not None:
                            locks.append(lock_ms)
                harness.log(
                    f"run {number + 1}/{runs}: "
                    + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items())
                )
            settle()
            alone = checksum_pass(db)
        finally:
            await on.close()
            await off.close()
    median = {side: statistics.median(values) for side, values in times.items()}
    on_off = harness.ratio_interval(times["off"], times["on"])
    on_native = harness.ratio_interval(times["native"], times["on"])
    off_native = harness.ratio_interval(times["native"], times["off"])
    return "\n".join(
        [
            TITLE,
            "",
            f"{harness.machine()}; {harness.source_state()}; `{harness.command_line()}`.",
            f"{rows:,} messages, {runs} runs (medians; 95% intervals by paired bootstrap).",
            "",
            "| backup | median | vs native | vs Lumbung without evidence |",
            "|---|---:|---:|---:|",
            f"| native `mariadb-dump \\| zstd -3` | {median['native']:.2f} s | 1.00x | |",
            f"| Lumbung, evidence off | {median['off']:.2f} s | "
            f"{median['off'] / median['native']:.3f}x ({off_native[0]:.2f}-{off_native[1]:.2f}) "
            "| 1.00x |",
            f"| Lumbung, evidence on (default) | {median['on']:.2f} s | "
            f"{median['on'] / median['native']:.3f}x ({on_native[0]:.2f}-{on_native[1]:.2f}) | "
            f"{median['on'] / median['off']:.3f}x ({on_off[0]:.2f}-{on_off[1]:.2f}) |",
            "",
            f"The checksum pass alone (CHECKSUM TABLE ... EXTENDED of every table): {alone:.2f} s. "
            f"Writes held back while the dump's snapshot was joined (lockMs): median "
            f"{statistics.median(locks) if locks else 0:.0f} ms, "
            f"at most {max(locks, default=0)} ms.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=bigdb.ROWS_DEFAULT)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    arguments = parser.parse_args()
    os.environ.pop("LUMBUNG_BACKUP_EVIDENCE", None)
    with harness.interrupts_on_termination():
        section = asyncio.run(run(arguments.rows, arguments.runs))
    print(section)
    if not arguments.no_write:
        harness.write_results(section, TITLE)


if __name__ == "__main__":
    main()
