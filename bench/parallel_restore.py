"""Lumbung's parallel restore beside the native `zstd -dc FILE | mariadb` and `myloader -t N`,
on the same ~1 GB database (bench/bigdb.py), in the same run.

Made once, before the timed runs: Lumbung's FULL backup (its own backup job, chunked), the
native file (`mariadb-dump`, with the server's own dump arguments, `| zstd -3`) and
mydumper's dump (`mydumper -t N -r 100000`, its own format). Then per run, in an order that
rotates with the run's number, each restore after `sync` on a settled machine (quiet, or
15 s at most):

    native    zstd -dc native.sql.zst | mariadb <Lumbung's client flags> DB
    Lumbung   the restore job (safety backup off, as `safetyBackup: false`), in this process,
              over LUMBUNG_RESTORE_CONNECTIONS = N connections
    myloader  myloader -t N -o -d <mydumper's dump> -B DB
    myloader -c  the same on mydumper's compressed dump (`-c`, gzip), for reference: Lumbung
              reads its compressed file, myloader its plain files

Each restore overwrites the whole database. Per side: wall time, CPU seconds of the tools and
of this process (Lumbung's Python side runs here), of mariadbd, per GB of the dump's SQL; the
peak RSS of this process during Lumbung's restore against its RSS just before. CHECKSUM TABLE
is checked after each side's first restore. mydumper and myloader are Debian's package
`mydumper` (`apt-get install mydumper`; 0.10.1 on Debian 12, which has no `--optimize-keys`);
they log in as the server's admin over its socket, so no password is in their argv.

    .venv/bin/python -m bench.parallel_restore [--rows 1200000] [--runs 3] [--connections N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

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
from server.backup.adapters.mysql_tools import client_arguments, dump_arguments
from server.backup.plan import BackupRequest
from server.db.enums import BackupType, JobStatus
from server.db.migrate import LUMBUNG_TABLES
from server.db.models import Backup, RestoreLog
from server.resources import Resources, open_resources
from server.settings import Settings
from tests.support.binaries import ensure_binaries
from tests.support.mariadb import MariaDBServer

NAME = "parallel_restore"
DATABASE = "bench_parallel"
SIDES = ("native", "Lumbung", "myloader", "myloader -c")
QUICK_ROWS = 20_000
NATIVE_TARGET = 0.5  # Lumbung's restore time / the native pipeline's, at most
MYLOADER_TARGET = 1.0
MYLOADER_ATTEMPTS = 3
GB = 10**9


SETTLE_SECONDS = 15.0


def settle() -> None:
    """Dirty pages written, then until the machine is quiet (at most SETTLE_SECONDS: the
    database's background work after the last restore, not another's bill)."""
    from bench.backup_restore import settle as settle_machine

    settle_machine(SETTLE_SECONDS)


class Usage:
    """CPU seconds of this process, of its reaped children and of mariadbd, between two
    points."""

    def __init__(self, mariadbd: psutil.Process) -> None:
        self._mariadbd = mariadbd
        self._start = self._now()

    def _now(self) -> tuple[float, float, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        db = self._mariadbd.cpu_times()
        return (
            own.ru_utime + own.ru_stime,
            children.ru_utime + children.ru_stime,
            db.user + db.system,
        )

    def since(self) -> dict[str, float]:
        end = self._now()
        own, children, db = (b - a for a, b in zip(self._start, end, strict=True))
        return {"client": round(own + children, 2), "mariadbd": round(db, 2)}


class RssPeak:
    """This process's RSS every 50 ms while a job runs."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.idle = self._process.memory_info().rss
        self.peak = self.idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(command: Callable[[], None]) -> float:
    started = time.monotonic()
    command()
    return time.monotonic() - started


def pipe(first: Sequence[str], second: Sequence[str], out: Any = subprocess.DEVNULL) -> None:
    producer = subprocess.Popen(first, stdout=subprocess.PIPE)
    assert producer.stdout is not None
    consumer = subprocess.run(second, stdin=producer.stdout, stdout=out, check=False)
    producer.stdout.close()
    if producer.wait() != 0 or consumer.returncode != 0:
        raise BenchmarkError(f"{shlex.join(first)} | {shlex.join(second)} failed")


def check(command: Sequence[str]) -> None:
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise BenchmarkError(f"{command[0]} failed: {result.stderr.decode()[-2000:]}")


async def lumbung_backup(resources: Resources) -> tuple[int, str, int]:
    job = await resources.backups.start(BackupRequest(BackupType.FULL), 0)
    await job.task
    async with resources.sessions() as session:
        row = await session.get(Backup, job.row.id)
    assert row is not None
    if row.status is not JobStatus.COMPLETED:
        raise BenchmarkError(f"Lumbung's backup failed: {row.error_message}")
    return row.id, row.filename, int(row.file_size or 0)


async def lumbung_restore(resources: Resources, backup_id: int, filename: str) -> None:
    job = await resources.restores.start(backup_id, confirm=filename, safety_backup=False, actor=0)
    await job.task
    async with resources.sessions() as session:
        log_row = await session.get(RestoreLog, job.row.id)
    assert log_row is not None
    if log_row.status is not JobStatus.COMPLETED:
        raise BenchmarkError(f"Lumbung's restore failed: {log_row.error_message}")


def settings_for(url: str, folder: Path, connections: int) -> Settings:
    return Settings(
        _env_file=None,
        database_url=url,
        data_dir=folder / "data",
        backup_dir=folder / "backups",
        jwt_secret="x" * 48,
        log_format="text",
        log_level="WARNING",
        scheduler=False,
        restore_connections=connections,
    )


@dataclass(frozen=True)
class BigDatabase:
    """bench/bigdb.py's database in a private MariaDB, and what the tools need to reach it."""

    url: str
    expected: dict[str, int]  # CHECKSUM TABLE of each table
    mariadbd: psutil.Process
    options: Path  # a client option file (the admin's credentials)
    dump: list[str]  # the server's own dump arguments for a FULL backup
    admin: list[str]  # mydumper's and myloader's login: the admin, over the socket


async def big_database(db: MariaDBServer, folder: Path, name: str, rows: int) -> BigDatabase:
    url = db.create_database(name)
    log(f"generating {rows:,} messages")
    await asyncio.to_thread(bigdb.generate, db, name, url, rows, log)
    assert db.pid is not None
    options = db.write_client_option_file(folder / "client.cnf")
    plan = DumpPlan(True, [], sorted(LUMBUNG_TABLES), True, True)
    return BigDatabase(
        url,
        bigdb.checksums(db, name),
        psutil.Process(db.pid),
        options,
        dump_arguments(None, name, plan, str(options)),
        [f"--socket={db.socket_path}", f"--user={db._admin}"],
    )


async def measure(rows: int, runs: int, connections: int) -> dict[str, Any]:
    with MariaDBServer() as db, tempfile.TemporaryDirectory(prefix="lb-parallel-") as work:
        folder = Path(work)
        big = await big_database(db, folder, DATABASE, rows)
        url, expected, mariadbd, dump, admin = (
            big.url,
            big.expected,
            big.mariadbd,
            big.dump,
            big.admin,
        )
        client = [*client_arguments(None, str(big.options)), DATABASE]
        native_file = folder / "native.sql.zst"
        mydumper_dir = folder / "mydumper"
        settings = settings_for(url, folder, connections)
        resources = await open_resources(settings, resolve_token_keys(settings))
        try:
            log("making the three dumps once")
            backup_id, filename, lumbung_bytes = await lumbung_backup(resources)
            with native_file.open("wb") as out:
                pipe(dump, ["zstd", "-3", "-q"], out)
            mydumper = [
                "mydumper", *admin, "-B", DATABASE, "-t", str(connections), "-r", "100000",
                "-G", "-E", "-R", "-o", str(mydumper_dir),
            ]  # fmt: skip
            check(mydumper)
            # The same dump compressed (`-c`: gzip in mydumper 0.10), as Lumbung's file is: for
            # reference, what myloader takes when it too reads a compressed dump.
            mydumper_gz = folder / "mydumper-c"
            check([*mydumper[: mydumper.index("-o")], "-c", "-o", str(mydumper_gz)])
            manifest = (settings.backup_dir / f"{filename}.manifest.json").read_text()
            sections = json.loads(manifest)["sections"]
            sql_bytes = sum(int(s["sqlBytes"]) for s in sections)
            chunks = sum(1 for s in sections if s["kind"] == "rows")
            myloader = [
                "myloader", *admin, "-B", DATABASE, "-t", str(connections), "-o",
                "-d", str(mydumper_dir),
            ]  # fmt: skip

            myloader_gz = [*myloader[: myloader.index("-d")], "-d", str(mydumper_gz)]

            def native() -> None:
                pipe(["zstd", "-dc", "-q", str(native_file)], client)

            def loader(command: list[str]) -> Callable[[], None]:
                return lambda: check(command)

            times: dict[str, list[float]] = {side: [] for side in SIDES}
            cpu: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
            rss: list[tuple[int, int]] = []
            per_run: list[dict[str, Any]] = []
            verified: set[str] = set()
            myloader_retries: list[int] = []  # the runs in which myloader had to be retried
            for number in range(runs):
                order = list(SIDES[number % len(SIDES) :] + SIDES[: number % len(SIDES)])
                for side in order:
                    settle()
                    usage = Usage(mariadbd)
                    if side == "Lumbung":
                        with RssPeak() as peak:
                            started = time.monotonic()
                            await lumbung_restore(resources, backup_id, filename)
                            seconds = time.monotonic() - started
                        rss.append((peak.idle, peak.peak))
                    elif side == "native":
                        seconds = await asyncio.to_thread(timed, native)
                    else:
                        for attempt in range(1, MYLOADER_ATTEMPTS + 1):
                            try:
                                command = myloader if side == "myloader" else myloader_gz
                                seconds = await asyncio.to_thread(timed, loader(command))
                                break
                            except BenchmarkError as exc:
                                # myloader 0.10 sometimes deadlocks its own threads: its
                                # failure, not a figure. Retried from scratch (it drops the
                                # tables), after the machine settles; the retries are kept.
                                if "Deadlock" not in str(exc) or attempt == MYLOADER_ATTEMPTS:
                                    raise
                                log(f"  myloader deadlocked itself (attempt {attempt}); again")
                                myloader_retries.append(number + 1)
                                settle()
                                usage = Usage(mariadbd)
                    times[side].append(seconds)
                    cpu[side].append(usage.since())
                    if side not in verified:
                        found = bigdb.checksums(db, DATABASE)
                        if found != expected:
                            raise BenchmarkError(f"{side}'s restore changed {found} != {expected}")
                        verified.add(side)
                per_run.append(
                    {"run": number + 1, "order": order, **{s: times[s][-1] for s in SIDES}}
                )
                log(
                    f"run {number + 1}/{runs}: "
                    + ", ".join(f"{side} {times[side][-1]:.2f} s" for side in SIDES)
                )
        finally:
            await resources.close()
        versions = (
            f"{tool_version('mariadb', '--version')}; {tool_version('myloader', '--version')}; "
            f"{tool_version('zstd', '--version').strip('* ')}; Lumbung {package_version('lumbung')}"
        )
        native_shown = " ".join(
            "--defaults-file=<client options>" if a.startswith("--defaults-file=") else a
            for a in [Path(client[0]).name, *client[1:]]
        )
    gb = sql_bytes / GB

    def per_gb(side: str, key: str) -> float:
        return round(median([c[key] for c in cpu[side]]) / gb, 2)

    return {
        "benchmark": NAME,
        **facts(),
        "versions": versions,
        "rows": rows,
        "runs": runs,
        "connections": connections,
        "sql_bytes": sql_bytes,
        "chunks": chunks,
        "lumbung_file_bytes": lumbung_bytes,
        "commands": {
            "native": f"zstd -dc native.sql.zst | {native_shown}",
            "myloader": shlex.join(["myloader", "-t", str(connections), "-o", "-d", "DIR"]),
            "mydumper": shlex.join(["mydumper", "-t", str(connections), "-r", "100000"]),
            "mydumper_compressed": shlex.join(
                ["mydumper", "-t", str(connections), "-r", "100000", "-c"]
            ),
        },
        "per_run": per_run,
        "medians": {side: round(median(values), 2) for side, values in times.items()},
        "vs_native": compare(times["native"], times["Lumbung"]).as_data(),
        "vs_myloader": compare(times["myloader"], times["Lumbung"]).as_data(),
        "vs_myloader_compressed": compare(times["myloader -c"], times["Lumbung"]).as_data(),
        "targets": {"native": NATIVE_TARGET, "myloader": MYLOADER_TARGET},
        "cpu_per_gb": {
            side: {"client": per_gb(side, "client"), "mariadbd": per_gb(side, "mariadbd")}
            for side in SIDES
        },
        "rss_mb": {
            "idle": round(median([idle for idle, _ in rss]) / 10**6, 1),
            "peak": round(median([peak for _, peak in rss]) / 10**6, 1),
        },
        "checksums_ok": sorted(verified) == sorted(SIDES),
        "myloader_retried_in_runs": myloader_retries,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=bigdb.ROWS_DEFAULT)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--connections",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="N: Lumbung's LUMBUNG_RESTORE_CONNECTIONS and myloader's/mydumper's -t "
        "(default: the cores)",
    )
    result_options(parser, f"{QUICK_ROWS:,} messages, one run")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.rows, arguments.runs = QUICK_ROWS, 1
    ensure_binaries()
    for tool in ("mydumper", "myloader", "zstd"):
        if not subprocess.run(["which", tool], capture_output=True, check=False).stdout:
            raise BenchmarkError(f"{tool} is not installed (Debian: apt-get install mydumper)")
    os.environ.pop("LUMBUNG_RESTORE_CONNECTIONS", None)
    data = asyncio.run(measure(arguments.rows, arguments.runs, arguments.connections))
    publish(NAME, data, write=not (arguments.no_write or arguments.quick))
    return 0


if __name__ == "__main__":
    run(main)
