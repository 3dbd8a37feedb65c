"""What age encryption and an offsite copy add to a FULL backup, on a generated MariaDB
database (bench/bigdb.py; ~1.03 GB of SQL at the default 1.2 M messages), beside the native
pipelines. Target (issue 18): encryption and upload add at most 10% to a backup's time.

Starts a private MariaDB and a private SeaweedFS (S3 on loopback: tests.servers), then runs,
interleaved run by run, with the order rotated each run so no job always follows another:

1. native:               mariadb-dump <Lumbung's flags> DB | zstd -3 -q > file
2. native + age:         mariadb-dump ... | zstd -3 -q | age -r KEY > file
3. Lumbung:              a FULL backup, until COMPLETED
4. Lumbung + age:        a FULL backup encrypted to KEY, until COMPLETED
5. Lumbung + age + S3:   the same, until its copy to the bucket is COMPLETED (uploaded, read
                         back whole and compared: SHA-256)

Lumbung runs in this process, through its services (server/resources.py), on the same
settings for 3, 4 and 5 but the recipients and the target. Before each timed job the page
cache's dirty pages are flushed (`sync`). Each ratio is of medians, with a 95% interval
(a paired bootstrap over the runs); 5/3 is the one the target is about, 4/3 is encryption's
share of it, 2/1 says what `age` itself costs. The local SeaweedFS shares the machine's two
cores with the upload and the read-back: a real bucket does its work elsewhere.

    .venv/bin/python bench/offsite_encryption.py [--runs 5] [--rows 1200000] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import (  # bench/harness.py: the script's own folder is on sys.path
    REPO,
    BenchmarkError,
    command_line,
    interrupts_on_termination,
    log,
    machine,
    ratio_interval,
    source_state,
    write_results,
)

sys.path.insert(0, str(REPO))

import bigdb

from server.backup.plan import BackupRequest
from server.db.enums import BackupType, CopyStatus, JobStatus
from server.db.migrate import LUMBUNG_TABLES
from server.db.models import Backup
from server.encryption.keys import Identity
from server.settings import Settings
from tests.servers import MariaDBServer, SeaweedFSServer, ensure_binaries

DATABASE = "lumbung_bench"
TITLE = "## Encryption and offsite copy (~1 GB MariaDB)"
TARGET = 1.10
JOBS = ("native", "native+age", "lumbung", "lumbung+age", "lumbung+age+s3")


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BenchmarkError(f"{name} is not installed (apt-get install mariadb-client zstd age)")
    return found


def dump_argv(options: Path, ignored: Sequence[str]) -> list[str]:
    """mariadb-dump as Lumbung runs it for a FULL backup (server/backup/adapters/mysql.py)."""
    return [
        binary("mariadb-dump"),
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
        *(f"--ignore-table={DATABASE}.{name}" for name in ignored),
        "--",
        DATABASE,
    ]


def native(options: Path, out: Path, recipient: str | None) -> float:
    """The native pipeline, wall-clock from the first fork to the last exit."""
    stages = [dump_argv(options, sorted(LUMBUNG_TABLES)), [binary("zstd"), "-3", "-q"]]
    if recipient is not None:
        stages.append([binary("age"), "-r", recipient])
    started = time.monotonic()
    with out.open("wb") as sink:
        processes: list[subprocess.Popen[bytes]] = []
        previous: Any = subprocess.DEVNULL
        for index, argv in enumerate(stages):
            last = index == len(stages) - 1
            process = subprocess.Popen(
                argv, stdin=previous, stdout=sink if last else subprocess.PIPE
            )
            if processes and processes[-1].stdout is not None:
                processes[-1].stdout.close()  # only the next stage reads it now
            previous = process.stdout
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


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def render(times: dict[str, list[float]], sizes: dict[str, int], args: argparse.Namespace) -> str:
    ratio = median(times["lumbung+age+s3"]) / median(times["lumbung"])
    low, high = ratio_interval(times["lumbung"], times["lumbung+age+s3"])
    encrypted = median(times["lumbung+age"]) / median(times["lumbung"])
    enc_low, enc_high = ratio_interval(times["lumbung"], times["lumbung+age"])
    age_ratio = median(times["native+age"]) / median(times["native"])
    met = "met" if ratio <= TARGET else "not met"
    lines = [
        TITLE,
        "",
        f"{machine()}; {source_state()}; {args.runs} runs, {args.rows:,} messages.",
        f"Command: `{command_line()}`",
        "",
        "| job | median s | runs (s) | file |",
        "|---|---:|---|---:|",
    ]
    for job in JOBS:
        runs = ", ".join(f"{t:.2f}" for t in times[job])
        lines.append(f"| {job} | {median(times[job]):.2f} | {runs} | {sizes[job] / 1e6:.1f} MB |")
    lines += [
        "",
        f"- Lumbung encrypted and copied to S3 (until the copy is read back and compared) / "
        f"Lumbung alone: **{ratio:.2f}x** (95% interval {low:.2f}-{high:.2f}); target at most "
        f"{TARGET:.2f}x: {met}.",
        f"- Of which encryption (Lumbung encrypted, until COMPLETED / Lumbung alone): "
        f"{encrypted:.2f}x (95% interval {enc_low:.2f}-{enc_high:.2f}).",
        f"- `age` in the native pipeline: {age_ratio:.2f}x the native pipeline alone.",
        "- The SeaweedFS here runs on the same two cores as the dump; a real bucket's work is "
        "done elsewhere.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=bigdb.ROWS_DEFAULT)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3 (medians, and an interval)")
    ensure_binaries()
    key = Identity.generate()
    times: dict[str, list[float]] = {job: [] for job in JOBS}
    sizes: dict[str, int] = {}
    with (
        interrupts_on_termination(),
        tempfile.TemporaryDirectory(prefix="lb-bench-") as tmp,
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
        }
        plain = Settings(_env_file=None, **common)
        encrypted = Settings(_env_file=None, **common, age_recipients=[str(key.recipient)])
        copied = Settings(
            _env_file=None,
            **common,
            age_recipients=[str(key.recipient)],
            offsite_targets=[weed.target("bucket", prefix="bench")],
        )
        asyncio.run(lumbung(plain, False))  # migrations, warm caches: not timed
        for run in range(args.runs):
            order = JOBS[run % len(JOBS) :] + JOBS[: run % len(JOBS)]
            for job in order:
                subprocess.run(["sync"], check=True)
                out = work / f"{job}.out"
                if job == "native":
                    seconds = native(options, out, None)
                elif job == "native+age":
                    seconds = native(options, out, str(key.recipient))
                else:
                    chosen = {"lumbung": plain, "lumbung+age": encrypted}.get(job, copied)
                    seconds, sizes[job] = asyncio.run(lumbung(chosen, chosen is copied))
                if job.startswith("native"):
                    sizes[job] = out.stat().st_size
                    out.unlink()
                times[job].append(seconds)
                log(f"run {run + 1}: {job} {seconds:.2f} s")
    section = render(times, sizes, args)
    print(section)
    if not args.no_write:
        write_results(section, TITLE)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
