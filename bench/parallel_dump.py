"""Lumbung's backup by one dump and by a parallel dump, beside the native `mariadb-dump | zstd
-3` and mydumper, on the same ~1 GB database (bench/bigdb.py), in the same run.

Per run, in an order that rotates with the run's number, each backup after `sync` on a settled
machine (quiet, or 15 s at most):

    native      mariadb-dump <the server's own dump arguments> DB | zstd -3 -q > FILE
    Lumbung 1   the backup job (FULL) with LUMBUNG_BACKUP_CONNECTIONS=1 (one dump, the default
                below 4 cores), in this process
    Lumbung N   the same with LUMBUNG_BACKUP_CONNECTIONS=N (the largest table in N key ranges
                beside the dump of the rest, one snapshot: docs/backups.md#parallel-dump)
    mydumper    mydumper -t N -r 100000 -G -E -R -o DIR (its own format, plain files), and with
                -c (its gzip compression), for reference

Per side: wall time, CPU seconds of the tools and of this process (Lumbung's Python side runs
here), of mariadbd, per GB of the dump's SQL. Lumbung's parallel backups are checked to have
been made in parallel (the manifest's `dump`), and one backup of each Lumbung side is restored
and checked against CHECKSUM TABLE of the source. mydumper is Debian's package `mydumper`
(0.10 on Debian 12); it logs in as the server's admin over its socket (no password in argv).

    .venv/bin/python -m bench.parallel_dump [--rows 1200000] [--runs 5] [--connections N]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

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
from bench.parallel_restore import (
    RssPeak,
    Usage,
    big_database,
    check,
    lumbung_backup,
    lumbung_restore,
    pipe,
    settings_for,
    settle,
    timed,
)
from server.auth.keys import resolve_token_keys
from server.resources import Resources, open_resources
from tests.support.binaries import ensure_binaries
from tests.support.mariadb import MariaDBServer

NAME = "parallel_dump"
DATABASE = "bench_pdump"
QUICK_ROWS = 20_000
TARGET = 1.05  # Lumbung's backup time / the native pipeline's, at most
GB = 10**9


def sides(connections: int) -> tuple[str, ...]:
    return ("native", "Lumbung 1", f"Lumbung {connections}", "mydumper", "mydumper -c")


async def measure(rows: int, runs: int, connections: int, chunk_mib: int) -> dict[str, Any]:
    names = sides(connections)
    parallel = names[2]
    with MariaDBServer() as db, tempfile.TemporaryDirectory(prefix="lb-pdump-") as work:
        folder = Path(work)
        big = await big_database(db, folder, DATABASE, rows)
        url, expected, mariadbd, dump, admin = (
            big.url,
            big.expected,
            big.mariadbd,
            big.dump,
            big.admin,
        )
        # Fresh statistics: the parallel dump picks its table by the server's size estimate.
        db.root_sql(f"ANALYZE TABLE {', '.join(f'`{t}`' for t in bigdb.TABLES)};", DATABASE)
        one = settings_for(url, folder / "one", connections).model_copy(
            update={"backup_connections": 1, "backup_chunk_mib": chunk_mib}
        )
        many = settings_for(url, folder / "many", connections).model_copy(
            update={"backup_connections": connections, "backup_chunk_mib": chunk_mib}
        )
        resources: dict[str, Resources] = {}
        for side, settings in ((names[1], one), (parallel, many)):
            resources[side] = await open_resources(settings, resolve_token_keys(settings))
        times: dict[str, list[float]] = {side: [] for side in names}
        cpu: dict[str, list[dict[str, float]]] = {side: [] for side in names}
        sizes: dict[str, list[int]] = {side: [] for side in names}
        rss: list[tuple[int, int]] = []
        per_run: list[dict[str, Any]] = []
        modes: list[dict[str, Any]] = []
        kept: dict[str, tuple[int, str]] = {}
        try:
            for number in range(runs):
                order = list(names[number % len(names) :] + names[: number % len(names)])
                for side in order:
                    settle()
                    usage = Usage(mariadbd)
                    if side.startswith("Lumbung"):
                        with RssPeak() as peak:
                            started = time.monotonic()
                            backup_id, filename, size = await lumbung_backup(resources[side])
                            seconds = time.monotonic() - started
                        rss.append((peak.idle, peak.peak))
                        folder_of = resources[side].settings.backup_dir
                        manifest = json.loads((folder_of / f"{filename}.manifest.json").read_text())
                        if side == parallel:
                            modes.append(manifest["dump"])
                            if manifest["dump"]["mode"] == "single":
                                raise BenchmarkError(f"not dumped in parallel: {manifest['dump']}")
                        if side in kept:
                            for path in folder_of.glob(f"{filename}*"):
                                path.unlink()
                        else:
                            kept[side] = (backup_id, filename)
                    elif side == "native":
                        target = folder / "native.sql.zst"
                        with target.open("wb") as out:
                            seconds = await asyncio.to_thread(
                                timed, functools.partial(pipe, dump, ["zstd", "-3", "-q"], out)
                            )
                        size = target.stat().st_size
                        target.unlink()
                    else:
                        out_dir = folder / "mydumper"
                        shutil.rmtree(out_dir, ignore_errors=True)
                        command = [
                            "mydumper", *admin, "-B", DATABASE, "-t", str(connections),
                            "-r", "100000", "-G", "-E", "-R", "-o", str(out_dir),
                            *(["-c"] if side.endswith("-c") else []),
                        ]  # fmt: skip
                        seconds = await asyncio.to_thread(timed, functools.partial(check, command))
                        size = sum(p.stat().st_size for p in out_dir.iterdir())
                        shutil.rmtree(out_dir)
                    times[side].append(seconds)
                    cpu[side].append(usage.since())
                    sizes[side].append(size)
                per_run.append(
                    {"run": number + 1, "order": order, **{s: times[s][-1] for s in names}}
                )
                log(
                    f"run {number + 1}/{runs}: "
                    + ", ".join(f"{side} {times[side][-1]:.2f} s" for side in names)
                )
            restored = {}
            for side, (backup_id, filename) in kept.items():
                await lumbung_restore(resources[side], backup_id, filename)
                restored[side] = bigdb.checksums(db, DATABASE) == expected
                if not restored[side]:
                    raise BenchmarkError(f"{side}'s backup did not restore the same tables")
        finally:
            for item in resources.values():
                await item.close()
        sql_bytes = int(manifest_sql_bytes(resources[names[1]], kept[names[1]][1]))
        versions = (
            f"{tool_version('mariadb-dump', '--version')}; "
            f"{tool_version('mydumper', '--version')}; "
            f"{tool_version('zstd', '--version').strip('* ')}; "
            f"Lumbung {package_version('lumbung')}"
        )
    gb = sql_bytes / GB

    def per_gb(side: str, key: str) -> float:
        return round(median([c[key] for c in cpu[side]]) / gb, 2)

    shown = " ".join(
        "--defaults-file=<client options>" if a.startswith("--defaults-file=") else a
        for a in [Path(dump[0]).name, *dump[1:]]
    )
    return {
        "benchmark": NAME,
        **facts(),
        "versions": versions,
        "rows": rows,
        "runs": runs,
        "connections": connections,
        "sides": list(names),
        "sql_bytes": sql_bytes,
        "commands": {
            "native": f"{shown} | zstd -3 -q > FILE",
            "mydumper": shlex.join(
                ["mydumper", "-t", str(connections), "-r", "100000", "-G", "-E", "-R", "-o", "DIR"]
            ),
        },
        "per_run": per_run,
        "medians": {side: round(median(values), 2) for side, values in times.items()},
        "sizes_mb": {side: round(median(values) / 10**6, 1) for side, values in sizes.items()},
        "vs_native": {side: compare(times["native"], times[side]).as_data() for side in names[1:3]},
        "parallel_vs_one": compare(times[names[1]], times[parallel]).as_data(),
        "target": TARGET,
        "modes": modes[:1],
        "cpu_per_gb": {
            side: {"client": per_gb(side, "client"), "mariadbd": per_gb(side, "mariadbd")}
            for side in names
        },
        "rss_mb": {
            "idle": round(median([idle for idle, _ in rss]) / 10**6, 1),
            "peak": round(median([peak for _, peak in rss]) / 10**6, 1),
        },
        "restored_ok": sorted(kept),
    }


def manifest_sql_bytes(resources: Resources, filename: str) -> int:
    path = resources.settings.backup_dir / f"{filename}.manifest.json"
    return sum(int(s["sqlBytes"]) for s in json.loads(path.read_text())["sections"])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=bigdb.ROWS_DEFAULT)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--connections",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="N: Lumbung's LUMBUNG_BACKUP_CONNECTIONS and mydumper's -t (default: the cores)",
    )
    result_options(parser, f"{QUICK_ROWS:,} messages, one run")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.rows, arguments.runs = QUICK_ROWS, 1
    ensure_binaries()
    for tool in ("mydumper", "zstd"):
        if not shutil.which(tool):
            raise BenchmarkError(f"{tool} is not installed (Debian: apt-get install mydumper)")
    os.environ.pop("LUMBUNG_BACKUP_CONNECTIONS", None)
    # The quick run's table is small: 1 MiB chunks make it worth splitting all the same.
    chunk_mib = 1 if arguments.quick else 64
    data = asyncio.run(measure(arguments.rows, arguments.runs, arguments.connections, chunk_mib))
    publish(NAME, data, write=not (arguments.no_write or arguments.quick))
    return 0


if __name__ == "__main__":
    run(main)
