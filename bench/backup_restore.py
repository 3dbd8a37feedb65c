"""Lumbung's FULL backup and restore against the native pipelines, on a ~1 GB MariaDB database.

Starts a private MariaDB (tests.support.mariadb.MariaDBServer), generates the database in it
(bench/bigdb.py: the seed application's tables, 1.2 M messages, ~50 MB of BLOBs; ~1.03 GB of
SQL), lets Lumbung create its catalog (`lumbung migrate`), starts `lumbung serve` (production
settings), then runs, interleaved run by run:

1. native backup:   mariadb-dump <Lumbung's flags> DB | zstd -3 -q > file
2. Lumbung backup:  createBackup(input: {backupType: FULL}), followed by subscription
3. native restore:  zstd -dc -q file | mariadb <Lumbung's client flags> DB
4. Lumbung restore: restoreBackup(id, confirm, safetyBackup: false), followed the same way

Even runs swap each pair (Lumbung's backup before the native one, and likewise the restores),
so that neither side always runs right after the other. Before every timed job the harness
flushes the page cache's dirty pages (`sync`) and waits until the machine is quiet, so that no
job pays for the writeback or background work of the one before it.

It samples the server's RSS every 50 ms during each Lumbung job, accounts every process's CPU
(the tools, the server, mariadbd, this harness and everything else on the machine), checks
once that `CHECKSUM TABLE` is unchanged by a round trip, measures one default restore (with
its safety backup) for information, and writes bench/results/backup_restore.json (then
bench/RESULTS.md). The native backup runs mariadb-dump with the arguments the server builds
itself (server/backup/mysql.py), so the two sides cannot drift apart. Besides each
ratio of medians it gives a 95% interval (a paired bootstrap over the runs): on a machine whose
runs vary by ±15%, it says whether the runs can tell a ratio from the target at all.

    .venv/bin/python -m bench.backup_restore [--runs 3] [--rows 1200000] [--keep DIR]
    .venv/bin/python -m bench.backup_restore --quick   # a smoke run that records nothing

Everything it starts and every temp dir goes away at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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
from bench.report import backup_restore as report
from tests.support.binaries import ensure_binaries
from tests.support.children import spawn as spawn_child
from tests.support.children import stop_process
from tests.support.files import tail, write_dotenv
from tests.support.graphql import BlockingGraphQL, GraphQLFailed
from tests.support.lumbung import LumbungServer
from tests.support.mariadb import MariaDBServer
from tests.support.websocket import BlockingGraphQLSocket, blocking_graphql_socket

NAME = "backup_restore"
DATABASE = "lumbung_bench"
BACKUP_TARGET = 1.0  # Lumbung's backup time / the native pipeline's, at most
RESTORE_TARGET = 1.05
RSS_TARGET_MB = 100.0  # server peak RSS during a backup minus its idle RSS, at most (10^6 B)
INFO_POLL_MS = 50  # the information round's polling: a client asking 20 times a second
SAMPLE_SECONDS = 0.05
JOB_TIMEOUT = 1800.0
SETTLE_MAX_SECONDS = 30.0  # before a timed job: sync, then wait at most this long for quiet
QUIET_BUSY_CORES = 0.1  # "quiet": the whole machine busy less than this over SETTLE_WINDOW
SETTLE_WINDOW = 0.5
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
MIB = 2**20
MB = 10**6
POLL_COST_REQUESTS = 100

CREATE_BACKUP = "mutation { createBackup(input: {backupType: FULL}) { backup { id filename } } }"
BACKUP_STATUS = (
    "query ($id: Int!) { backup(id: $id) { status fileSize durationSeconds errorMessage } }"
)
BACKUP_FILENAME = "query ($id: Int!) { backup(id: $id) { filename status fileSize } }"
RESTORE = (
    "mutation ($id: Int!, $confirm: String!) { restoreBackup(id: $id, confirm: $confirm, "
    "safetyBackup: false) { restoreLog { id } } }"
)
RESTORE_WITH_SAFETY = (
    "mutation ($id: Int!, $confirm: String!) { restoreBackup(id: $id, confirm: $confirm) "
    "{ restoreLog { id } } }"
)
RESTORE_STATUS = (
    "query ($id: Int!) { restoreLogs(backupId: $id) { items { id status errorMessage "
    "durationSeconds safetyBackupId } } }"
)
BACKUP_PROGRESS = "subscription ($id: Int!) { backupProgress(id: $id) { sequence status } }"
RESTORE_PROGRESS = "subscription ($id: Int!) { restoreProgress(id: $id) { sequence status } }"
DELETE_BACKUP = (
    "mutation ($id: Int!, $confirm: String!) { deleteBackup(id: $id, confirm: $confirm) "
    "{ removedFiles } }"
)


# --------------------------------------------------------------------------- small helpers


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BenchmarkError(f"{name} is not installed")
    return found


# Every process we start, so that `finally` can end the ones still running (ours only).
CHILDREN: list[subprocess.Popen[bytes]] = []


def spawn(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    process = spawn_child(argv, **kwargs)
    CHILDREN.append(process)
    return process


def reap(process: subprocess.Popen[bytes]) -> resource.struct_rusage:
    """Wait for `process` and return its own resource usage (CPU, peak RSS)."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage


def end_children() -> None:
    for process in CHILDREN:
        if process.returncode is None:  # reap() sets it for those it waited for
            stop_process(process, STOP_TIMEOUT)
    CHILDREN.clear()


def cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- CPU accounting


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores), since boot."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


def settle(max_seconds: float = SETTLE_MAX_SECONDS) -> float:
    """Flush dirty pages and wait until the machine is quiet (at most `max_seconds`);
    returns the seconds it took. The native pipeline leaves ~435 MB of its file unwritten (it
    does not fsync, as a shell pipeline does not), which the kernel would otherwise write back
    in the middle of a later job."""
    started = time.monotonic()
    os.sync()
    while time.monotonic() - started < max_seconds:
        before = machine_busy()
        time.sleep(SETTLE_WINDOW)
        if machine_busy() - before < QUIET_BUSY_CORES * SETTLE_WINDOW:
            break
    return time.monotonic() - started


@dataclass(frozen=True)
class CpuSnapshot:
    machine: float
    harness: float
    mariadbd: float
    server: float
    server_children: float

    @classmethod
    def take(cls, mariadbd: psutil.Process, server: psutil.Process | None) -> CpuSnapshot:
        me = resource.getrusage(resource.RUSAGE_SELF)
        db = mariadbd.cpu_times()
        own = server.cpu_times() if server is not None else None
        return cls(
            machine=machine_busy(),
            harness=cpu_seconds(me),
            mariadbd=db.user + db.system,
            server=0.0 if own is None else own.user + own.system,
            server_children=0.0 if own is None else own.children_user + own.children_system,
        )


# --------------------------------------------------------------------------- RSS sampling


@dataclass
class Samples:
    peak: dict[str, int] = field(default_factory=dict)  # process label -> peak RSS bytes
    threads: dict[int, float] = field(default_factory=dict)  # server tid -> CPU s (last seen)
    threads_before: dict[int, float] = field(default_factory=dict)
    count: int = 0

    def thread_cpu(self, main: int) -> list[tuple[str, float]]:
        """(kind, CPU seconds during the job), busiest first. Kinds: `loop` (the main thread:
        the event loop, so the GraphQL requests), `new` (started during the job: zstd's
        workers) and `pool` (older threads: the one running the job's pipeline is one)."""
        rows = [
            (
                "loop" if tid == main else ("new" if tid not in self.threads_before else "pool"),
                seconds - self.threads_before.get(tid, 0.0),
            )
            for tid, seconds in self.threads.items()
        ]
        return sorted(rows, key=lambda row: -row[1])


class Sampler:
    """Every 50 ms: the RSS of the server (and of its children, by name) or of given
    processes, and the CPU time of each of the server's threads."""

    def __init__(self, server: psutil.Process | None, watched: Sequence[tuple[str, int]] = ()):
        self._server = server
        self._watched = [(label, psutil.Process(pid)) for label, pid in watched]
        self._children: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self.samples = Samples()
        if server is not None:
            self.samples.threads_before = {
                t.id: t.user_time + t.system_time for t in server.threads()
            }
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> Samples:
        self._sample()
        self._thread.start()
        return self.samples

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def _note(self, label: str, rss: int) -> None:
        if rss > self.samples.peak.get(label, 0):
            self.samples.peak[label] = rss

    def _sample(self) -> None:
        self.samples.count += 1
        if self._server is not None:
            with contextlib.suppress(psutil.Error):
                self._note("server", self._server.memory_info().rss)
                for t in self._server.threads():
                    self.samples.threads[t.id] = t.user_time + t.system_time
            for pid in child_pids(self._server.pid):
                with contextlib.suppress(psutil.Error):
                    child = self._children.get(pid) or psutil.Process(pid)
                    self._children[pid] = child
                    self._note(child.name(), child.memory_info().rss)
        for label, process in self._watched:
            with contextlib.suppress(psutil.Error):
                self._note(label, process.memory_info().rss)


def child_pids(pid: int) -> list[int]:
    """The direct children of `pid`, from each of its threads' `children` file: far cheaper
    than psutil's children(), which reads every process's stat file, 20 times a second."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found += [int(word) for word in Path(task.path, "children").read_text().split()]
    return found


# --------------------------------------------------------------------------- native pipelines


@dataclass
class PipeResult:
    seconds: float
    cpu: dict[str, float]  # tool -> CPU seconds
    peak_rss: dict[str, int]  # tool -> bytes, sampled every 50 ms


def run_pipeline(
    first: Sequence[str],
    second: Sequence[str],
    stdout: IO[bytes] | int,
    errors: Path,
    labels: tuple[str, str],
) -> PipeResult:
    """`first | second > stdout`, timed wall-clock from the first fork to the last exit.

    RSS is sampled, not taken from ru_maxrss: a child's ru_maxrss also counts this (large)
    Python process's pages, which the child shares between fork and exec."""
    err_first = errors.with_suffix(".first")
    err_second = errors.with_suffix(".second")
    with err_first.open("wb") as e1, err_second.open("wb") as e2:
        started = time.monotonic()
        producer = spawn(first, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=e1)
        assert producer.stdout is not None
        consumer = spawn(second, stdin=producer.stdout, stdout=stdout, stderr=e2)
        producer.stdout.close()  # only the consumer reads the pipe now
        sampler = Sampler(None, [(labels[0], producer.pid), (labels[1], consumer.pid)])
        with sampler as samples:
            usage_first = reap(producer)
            usage_second = reap(consumer)
            seconds = time.monotonic() - started
    for process, path, argv in ((producer, err_first, first), (consumer, err_second, second)):
        if process.returncode != 0:
            raise BenchmarkError(
                f"{Path(argv[0]).name} exited with code {process.returncode}: {tail(path)}"
            )
    return PipeResult(
        seconds=seconds,
        cpu={labels[0]: cpu_seconds(usage_first), labels[1]: cpu_seconds(usage_second)},
        peak_rss=samples.peak,
    )


# --------------------------------------------------------------------------- Lumbung


def poll_until_done(
    fetch: Any, started: float, what: str, interval: float
) -> tuple[float, dict[str, Any], int]:
    """Call `fetch()` every `interval` s (on a fixed grid from `started`) until its status is
    no longer IN_PROGRESS; returns (seconds from `started`, the last answer, polls made)."""
    polls = 0
    while True:
        polls += 1
        now = time.monotonic()
        next_tick = started + interval * (int((now - started) / interval) + 1)
        time.sleep(max(0.0, next_tick - now))
        item: dict[str, Any] = fetch()
        if item["status"] != "IN_PROGRESS":
            seconds = time.monotonic() - started
            if item["status"] != "COMPLETED":
                raise BenchmarkError(f"{what} {item['status']}: {item.get('errorMessage')}")
            return seconds, item, polls
        if time.monotonic() - started > JOB_TIMEOUT:
            raise BenchmarkError(f"{what} still running after {JOB_TIMEOUT:.0f} s")


class ProgressSocket:
    """A graphql-transport-ws connection opened before a job's POST, as the SPA holds one, to
    follow the job by its `backupProgress`/`restoreProgress` subscription."""

    def __init__(self, server: LumbungServer, token: str) -> None:
        self._stack = contextlib.ExitStack()
        self._socket: BlockingGraphQLSocket = self._stack.enter_context(
            blocking_graphql_socket(server.ws, open_timeout=30, close_timeout=10, compression=None)
        )
        ack = self._socket.init({"Authorization": f"Bearer {token}"}, timeout=30)
        if ack.get("type") != "connection_ack":
            self.close()
            raise BenchmarkError(f"connection_init answered {ack}")

    def close(self) -> None:
        self._stack.close()

    def until_done(
        self, subscription: str, job_id: int, fetch: Any, started: float, what: str
    ) -> tuple[float, dict[str, Any], int]:
        """Subscribe and read events until the final one, then `fetch()` once; returns
        (seconds from `started` to the final event's receipt, the fetched answer, events
        received). Fails unless the job COMPLETED."""
        operation = self._socket.subscribe(subscription, {"id": job_id}, operation=str(job_id))
        events = 0
        seconds: float | None = None
        status = "IN_PROGRESS"
        try:
            for payload in self._socket.stream(operation, deadline=started + JOB_TIMEOUT):
                events += 1
                status = next(iter(payload["data"].values()))["status"]
                if status != "IN_PROGRESS" and seconds is None:
                    seconds = time.monotonic() - started
        except TimeoutError:
            raise BenchmarkError(f"{what} still running after {JOB_TIMEOUT:.0f} s") from None
        except GraphQLFailed as exc:
            raise BenchmarkError(f"{what}: the subscription failed: {exc}") from exc
        if seconds is None or status != "COMPLETED":
            raise BenchmarkError(f"{what} ended {status}")
        return seconds, fetch(), events


@dataclass
class Poller:
    """Follows a job as a polling client does: `fetch()` every `interval` s. The same
    `until_done` as ProgressSocket's, so a job is followed one way or the other alike."""

    interval: float

    def until_done(
        self, subscription: str, job_id: int, fetch: Any, started: float, what: str
    ) -> tuple[float, dict[str, Any], int]:
        return poll_until_done(fetch, started, what, self.interval)

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- measurements


@dataclass
class Measure:
    tool: str  # "native" | "Lumbung"
    work: str  # "backup" | "restore"
    run: int
    seconds: float
    file_bytes: int = 0
    reported_seconds: float | None = None  # Lumbung's own durationSeconds
    polls: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, int] = field(default_factory=dict)  # label -> peak bytes
    idle_rss: int = 0  # the server's, just before the job
    threads: list[tuple[str, float]] = field(default_factory=list)

    @property
    def rss_growth(self) -> int:
        return self.rss.get("server", 0) - self.idle_rss


@dataclass
class Context:
    db: MariaDBServer
    mariadbd: psutil.Process
    server: LumbungServer
    server_process: psutil.Process
    graphql: BlockingGraphQL
    options: Path  # the 0600 client option file
    work: Path
    dump: list[str]  # mariadb-dump's argv for a FULL backup, as the server builds it
    token: str
    settle_max: float = SETTLE_MAX_SECONDS  # before each job, wait this long at most for quiet

    def follower(self, poll: float | None) -> contextlib.closing[ProgressSocket | Poller]:
        """How the next job is followed: by its subscription (`poll` None), opened now, before
        the job's POST; else by polling it every `poll` s."""
        if poll is not None:
            return contextlib.closing(Poller(poll))
        return contextlib.closing(ProgressSocket(self.server, self.token))


def dump_argv(settings: Any, options: Path) -> list[str]:
    """mariadb-dump's arguments for a FULL backup, built by the server's own code
    (`dump_arguments` in server/backup/adapters/mysql_tools.py), with Lumbung's catalog tables
    left out as the server leaves them out."""
    from server.backup.adapters.base import DumpPlan
    from server.backup.adapters.mysql_tools import dump_arguments
    from server.db.migrate import LUMBUNG_TABLES

    plan = DumpPlan(
        full=True, tables=[], exclude=sorted(LUMBUNG_TABLES), include_schema=True, include_data=True
    )
    return dump_arguments(settings.dump_command, DATABASE, plan, str(options))


def shown(argv: Sequence[str]) -> str:
    """A command as the result shows it: the tool's name, the option file as OPT."""
    words = [Path(argv[0]).name, *argv[1:]]
    return " ".join(re.sub(r"^--defaults-file=.*", "--defaults-file=OPT", w) for w in words)


def client_argv(ctx: Context) -> list[str]:
    """The mariadb client as Lumbung runs it for a restore (`client_arguments`), the database
    named in argv instead of on stdin."""
    from server.backup.adapters.mysql_tools import client_arguments

    return [*client_arguments(None, str(ctx.options)), DATABASE]


def cpu_split(before: CpuSnapshot, after: CpuSnapshot, named: dict[str, float]) -> dict[str, float]:
    cpu = dict(named)
    cpu["mariadbd"] = after.mariadbd - before.mariadbd
    cpu["harness"] = after.harness - before.harness
    cpu["other"] = max(0.0, (after.machine - before.machine) - sum(cpu.values()))
    return cpu


def native_backup(ctx: Context, run: int, target: Path) -> Measure:
    before = CpuSnapshot.take(ctx.mariadbd, None)
    with target.open("xb") as out:
        os.fchmod(out.fileno(), 0o600)
        result = run_pipeline(
            ctx.dump,
            [binary("zstd"), "-3", "-q"],
            out,
            ctx.work / f"native-backup-{run}.err",
            ("mariadb-dump", "zstd"),
        )
    after = CpuSnapshot.take(ctx.mariadbd, None)
    return Measure(
        "native",
        "backup",
        run,
        result.seconds,
        file_bytes=target.stat().st_size,
        cpu=cpu_split(before, after, result.cpu),
        rss=result.peak_rss,
    )


def native_restore(ctx: Context, run: int, source: Path) -> Measure:
    before = CpuSnapshot.take(ctx.mariadbd, None)
    result = run_pipeline(
        [binary("zstd"), "-dc", "-q", str(source)],
        client_argv(ctx),
        subprocess.DEVNULL,
        ctx.work / f"native-restore-{run}.err",
        ("zstd -d", "mariadb"),
    )
    after = CpuSnapshot.take(ctx.mariadbd, None)
    return Measure(
        "native",
        "restore",
        run,
        result.seconds,
        file_bytes=source.stat().st_size,
        cpu=cpu_split(before, after, result.cpu),
        rss=result.peak_rss,
    )


def lumbung_cpu(before: CpuSnapshot, after: CpuSnapshot, child: str) -> dict[str, float]:
    return cpu_split(
        before,
        after,
        {
            "server": after.server - before.server,
            child: after.server_children - before.server_children,
        },
    )


def lumbung_backup(ctx: Context, run: int, poll: float | None) -> tuple[Measure, int, str]:
    """One FULL backup, followed by subscription (`poll` None) or by polling every `poll` s."""
    ctx.server.check_alive()
    idle = ctx.server_process.memory_info().rss
    before = CpuSnapshot.take(ctx.mariadbd, ctx.server_process)
    sampler = Sampler(ctx.server_process)
    with ctx.follower(poll) as follower, sampler as samples:
        started = time.monotonic()
        created = ctx.graphql(CREATE_BACKUP)["createBackup"]["backup"]
        backup_id, filename = int(created["id"]), str(created["filename"])
        seconds, item, polls = follower.until_done(
            BACKUP_PROGRESS,
            backup_id,
            lambda: ctx.graphql(BACKUP_STATUS, id=backup_id)["backup"],
            started,
            f"backup #{backup_id}",
        )
    after = CpuSnapshot.take(ctx.mariadbd, ctx.server_process)
    measure = Measure(
        "Lumbung",
        "backup",
        run,
        seconds,
        file_bytes=int(item["fileSize"]),
        reported_seconds=item["durationSeconds"],
        polls=polls,
        cpu=lumbung_cpu(before, after, "mariadb-dump"),
        rss=samples.peak,
        idle_rss=idle,
        threads=samples.thread_cpu(ctx.server_process.pid),
    )
    return measure, backup_id, filename


def lumbung_restore(
    ctx: Context,
    run: int,
    backup_id: int,
    filename: str,
    *,
    safety: bool = False,
    poll: float | None,
) -> tuple[Measure, dict[str, Any]]:
    """One restore, followed by subscription (`poll` None) or by polling every `poll` s."""
    ctx.server.check_alive()
    idle = ctx.server_process.memory_info().rss
    before = CpuSnapshot.take(ctx.mariadbd, ctx.server_process)
    with ctx.follower(poll) as follower, Sampler(ctx.server_process) as samples:
        started = time.monotonic()
        answer = ctx.graphql(
            RESTORE_WITH_SAFETY if safety else RESTORE, id=backup_id, confirm=filename
        )
        log_id = int(answer["restoreBackup"]["restoreLog"]["id"])

        def fetch() -> dict[str, Any]:
            items = ctx.graphql(RESTORE_STATUS, id=backup_id)["restoreLogs"]["items"]
            found: dict[str, Any] = next(i for i in items if int(i["id"]) == log_id)
            return found

        seconds, item, polls = follower.until_done(
            RESTORE_PROGRESS, log_id, fetch, started, f"restore #{log_id}"
        )
    after = CpuSnapshot.take(ctx.mariadbd, ctx.server_process)
    measure = Measure(
        "Lumbung",
        "restore",
        run,
        seconds,
        reported_seconds=item["durationSeconds"],
        polls=polls,
        cpu=lumbung_cpu(before, after, "mariadb"),
        rss=samples.peak,
        idle_rss=idle,
        threads=samples.thread_cpu(ctx.server_process.pid),
    )
    return measure, item


def delete_backup(ctx: Context, backup_id: int, filename: str) -> None:
    ctx.graphql(DELETE_BACKUP, id=backup_id, confirm=filename)


def poll_cost(ctx: Context, query: str, backup_id: int) -> float:
    """Server CPU seconds one poll costs (measured idle, back to back)."""
    before = ctx.server_process.cpu_times()
    for _ in range(POLL_COST_REQUESTS):
        ctx.graphql(query, id=backup_id)
    after = ctx.server_process.cpu_times()
    return ((after.user + after.system) - (before.user + before.system)) / POLL_COST_REQUESTS


def dump_size(ctx: Context) -> tuple[int, float]:
    """Bytes of SQL mariadb-dump writes (uncompressed) and how long the dump alone takes."""
    out = ctx.work / "dump-size.txt"
    with out.open("wb") as handle:
        result = run_pipeline(
            ctx.dump,
            [binary("wc"), "-c"],
            handle,
            ctx.work / "dump-size.err",
            ("mariadb-dump", "wc"),
        )
    return int(out.read_text().strip()), result.seconds


def one_round(
    ctx: Context,
    run: int,
    label: str,
    native_dir: Path,
    poll: float | None,
    expected: dict[str, int] | None,
    checks: dict[str, Any],
    backups_only: bool = False,
) -> tuple[list[Measure], int, str]:
    """Native backup, Lumbung backup, native restore, Lumbung restore; in even runs each pair
    the other way round. Every job starts on a settled machine (settle()). With `expected`,
    also checks CHECKSUM TABLE after each restore and measures what one poll costs. Returns
    the measures and the Lumbung backup (still in the catalog, for the caller to delete)."""
    lumbung_first = run % 2 == 0
    native_file = native_dir / f"run{run}.sql.zst"
    backup_id, filename = 0, ""
    restored: dict[str, dict[str, int] | None] = {}  # CHECKSUM TABLE after each restore

    def native_b() -> Measure:
        settle(ctx.settle_max)
        nb = native_backup(ctx, run, native_file)
        log(f"{label}: native backup   {nb.seconds:7.2f} s  {mb(nb.file_bytes)} MB")
        return nb

    def lumbung_b() -> Measure:
        nonlocal backup_id, filename
        settle(ctx.settle_max)
        lb, backup_id, filename = lumbung_backup(ctx, run, poll)
        log(
            f"{label}: Lumbung backup  {lb.seconds:7.2f} s  {mb(lb.file_bytes)} MB  "
            f"RSS {mib(lb.idle_rss)} -> {mib(lb.rss.get('server', 0))} MiB; "
            f"server threads CPU s: {thread_line(lb)}"
        )
        return lb

    def native_r() -> Measure:
        settle(ctx.settle_max)
        nr = native_restore(ctx, run, native_file)
        log(f"{label}: native restore  {nr.seconds:7.2f} s")
        restored["native"] = bigdb.checksums(ctx.db, DATABASE) if expected is not None else None
        return nr

    def lumbung_r() -> Measure:
        settle(ctx.settle_max)
        lr, _ = lumbung_restore(ctx, run, backup_id, filename, poll=poll)
        log(
            f"{label}: Lumbung restore {lr.seconds:7.2f} s; server threads CPU s: {thread_line(lr)}"
        )
        restored["Lumbung"] = bigdb.checksums(ctx.db, DATABASE) if expected is not None else None
        return lr

    backups = (lumbung_b, native_b) if lumbung_first else (native_b, lumbung_b)
    measures = [job() for job in backups]
    if not backups_only:
        restores = (lumbung_r, native_r) if lumbung_first else (native_r, lumbung_r)
        measures += [job() for job in restores]
    native_file.unlink()
    # Reported in one order whichever ran first: native backup, Lumbung's, then the restores.
    measures.sort(key=lambda m: (m.work != "backup", m.tool != "native"))
    if backups_only:
        return measures, backup_id, filename
    if expected is not None:
        if restored["native"] != expected or restored["Lumbung"] != expected:
            raise BenchmarkError(
                f"CHECKSUM TABLE changed: before {expected}, after the native restore "
                f"{restored['native']}, after Lumbung's {restored['Lumbung']}"
            )
        checks["checksums_ok"] = (
            "yes (" + ", ".join(f"{name} {value}" for name, value in expected.items()) + ")"
        )
        log(f"checksums unchanged by both restores: {checks['checksums_ok']}")
        checks["poll_cpu_ms"] = 1000 * poll_cost(ctx, BACKUP_STATUS, backup_id)
        checks["restore_poll_cpu_ms"] = 1000 * poll_cost(ctx, RESTORE_STATUS, backup_id)
        log(
            f"server CPU per poll: backup(id) {checks['poll_cpu_ms']:.2f} ms, "
            f"restoreLogs(backupId) {checks['restore_poll_cpu_ms']:.2f} ms"
        )
    return measures, backup_id, filename


# --------------------------------------------------------------------------- the database


def start_database(
    tmp: Path, keep: Path | None, rows: int
) -> tuple[MariaDBServer, dict[str, int], bool]:
    """MariaDB with the generated database; returns the server, the tables' checksums and
    whether an earlier run's data (in `keep`) was reused."""
    db = MariaDBServer(base_dir=tmp)
    marker: Path | None = None
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        db.datadir = keep / "mariadb"  # survives cleanup(), which removes db.tmp_dir only
        marker = keep / "dataset.json"
    db.start()
    expected = {"rows": rows, "format": 1}
    if marker is not None and marker.exists():
        saved = json.loads(marker.read_text())
        exists = db.root_sql(f"SHOW DATABASES LIKE '{DATABASE}';").strip() == DATABASE
        if exists and {k: saved.get(k) for k in expected} == expected:
            log("checking the kept database (CHECKSUM TABLE) ...")
            sums = bigdb.checksums(db, DATABASE)
            if sums == saved["checksums"]:
                return db, sums, True
            log("the kept database changed since it was generated: generating it again")
        marker.unlink()
    db.drop_database(DATABASE)
    url = db.create_database(DATABASE)
    log(f"generating the database ({rows:,} messages) ...")
    bigdb.generate(db, DATABASE, url, rows, log)
    sums = bigdb.checksums(db, DATABASE)
    if marker is not None:
        marker.write_text(json.dumps({**expected, "checksums": sums}) + "\n")
    return db, sums, False


# --------------------------------------------------------------------------- the result


def mib(value: int) -> str:
    return f"{value / MIB:.1f}"


def mb(value: int) -> str:
    return f"{value / MB:.1f}"


def versions(mariadb: str, zstd_level: int, zstd_threads: int) -> str:
    import zstandard

    zstd_cli = re.search(r"v(\d+\.\d+\.\d+)", tool_version(binary("zstd"), "--version"))
    libzstd = ".".join(str(part) for part in zstandard.ZSTD_VERSION[:3])
    return (
        f"MariaDB {mariadb}; {tool_version(binary('mariadb-dump'), '--version')}; "
        f"{tool_version(binary('mariadb'), '--version')}; "
        f"zstd CLI {zstd_cli.group(1) if zstd_cli else '?'}; Python {platform.python_version()}; "
        f"Lumbung {package_version('lumbung')} with python-zstandard {zstandard.__version__} "
        f"(libzstd {libzstd}), LUMBUNG_ZSTD_LEVEL={zstd_level}, "
        f"LUMBUNG_ZSTD_THREADS={zstd_threads} (its defaults)"
    )


def pick(measures: Sequence[Measure], tool: str, work: str) -> list[Measure]:
    return [m for m in measures if m.tool == tool and m.work == work]


def paired(measures: Sequence[Measure], work: str) -> tuple[list[float], list[float]]:
    """The native and the Lumbung seconds of `work`, run by run."""
    native = {m.run: m.seconds for m in pick(measures, "native", work)}
    ours = {m.run: m.seconds for m in pick(measures, "Lumbung", work)}
    runs = sorted(native.keys() & ours.keys())
    return [native[r] for r in runs], [ours[r] for r in runs]


def work_summary(measures: Sequence[Measure], work: str, target: float) -> dict[str, Any]:
    comparison = compare(*paired(measures, work))
    return {
        "native_s": comparison.reference,
        "lumbung_s": comparison.ours,
        "ratio": comparison.ratio,
        "interval": list(comparison.interval),
        "target": target,
    }


def run_data(measures: Sequence[Measure]) -> list[dict[str, Any]]:
    rows = []
    for run_number in sorted({m.run for m in measures}):
        nb, lb, nr, lr = (
            next(m for m in measures if m.run == run_number and m.tool == tool and m.work == work)
            for tool, work in (
                ("native", "backup"),
                ("Lumbung", "backup"),
                ("native", "restore"),
                ("Lumbung", "restore"),
            )
        )
        rows.append(
            {
                "run": run_number,
                "native_backup_s": nb.seconds,
                "lumbung_backup_s": lb.seconds,
                "backup_ratio": lb.seconds / nb.seconds,
                "native_restore_s": nr.seconds,
                "lumbung_restore_s": lr.seconds,
                "restore_ratio": lr.seconds / nr.seconds,
                "native_file_mb": nb.file_bytes / MB,
                "lumbung_file_mb": lb.file_bytes / MB,
                "rss_idle_mib": lb.idle_rss / MIB,
                "rss_peak_mib": lb.rss.get("server", 0) / MIB,
                "rss_growth_mb": lb.rss_growth / MB,
                "dump_rss_mib": {
                    "native": nb.rss.get("mariadb-dump", 0) / MIB,
                    "Lumbung": lb.rss.get("mariadb-dump", 0) / MIB,
                },
            }
        )
    return rows


def job_data(measures: Sequence[Measure]) -> list[dict[str, Any]]:
    """CPU seconds of every process during each job."""
    return [
        {
            "run": m.run,
            "job": f"{m.tool} {m.work}",
            "wall_s": m.seconds,
            "cpu": m.cpu,
            "busy_cores": sum(m.cpu.values()) / m.seconds,
        }
        for m in sorted(measures, key=lambda m: (m.run, m.work, m.tool != "native"))
    ]


def info_data(
    measures: Sequence[Measure], info: Sequence[Measure], poll_s: float
) -> dict[str, Any]:
    """The information round (Lumbung's jobs polled less often) beside its own native jobs."""
    rows = []
    for work in ("backup", "restore"):
        native = next(m for m in info if m.tool == "native" and m.work == work)
        ours = next(m for m in info if m.tool == "Lumbung" and m.work == work)
        rows.append(
            {
                "job": work,
                "native_s": native.seconds,
                "lumbung_s": ours.seconds,
                "ratio": ours.seconds / native.seconds,
                "polls": ours.polls,
                "server_cpu_s": ours.cpu.get("server", 0.0),
                "runs_median_s": median([m.seconds for m in pick(measures, "Lumbung", work)]),
            }
        )
    return {"poll_s": poll_s, "rows": rows}


@dataclass
class Extras:
    """What a result shows besides the runs' measures."""

    rss_start: int  # the server's RSS right after it started
    checks: dict[str, Any]  # checksums_ok, poll_cpu_ms, restore_poll_cpu_ms
    info: list[Measure]  # the information round
    safety: Measure | None  # the one restore with a safety backup
    safety_bytes: int


def result(
    args: argparse.Namespace,
    ctx: Context,
    measures: Sequence[Measure],
    found: dict[str, Any],
    extras: Extras,
) -> dict[str, Any]:
    """Everything the section shows: the facts in `found`, the measures, the extras."""
    backups = pick(measures, "Lumbung", "backup")
    restores = pick(measures, "Lumbung", "restore")
    natives = pick(measures, "native", "backup")
    info, safety, checks = extras.info, extras.safety, extras.checks
    sql_bytes: int = found["data"]["sql_bytes"]
    native_file = median([m.file_bytes for m in natives])
    lumbung_file = median([m.file_bytes for m in backups])
    found["data"]["file_mb"] = {"native": native_file / MB, "Lumbung": lumbung_file / MB}
    found["data"]["compression"] = {
        "native": sql_bytes / native_file,
        "Lumbung": sql_bytes / lumbung_file,
    }
    worst = max(backups, key=lambda m: m.rss_growth)
    everything = [*measures, *info, *([safety] if safety is not None else [])]
    highest = max(m.rss.get("server", 0) for m in everything)
    restore = work_summary(measures, "restore", RESTORE_TARGET)
    return {
        "benchmark": NAME,
        **found,
        "settle_max_s": ctx.settle_max,
        "settings": args.setting,
        "database": DATABASE,
        "native_backup": shown(ctx.dump) + " | zstd -3 -q > FILE",
        "native_restore": "zstd -dc -q FILE | " + shown(client_argv(ctx)),
        "poll_ms": args.poll_ms,
        "sample_ms": SAMPLE_SECONDS * 1000,
        "runs": run_data(measures),
        "summary": {
            "backup": work_summary(measures, "backup", BACKUP_TARGET),
            "restore": restore,
        },
        "rss": {
            "idle_mib": worst.idle_rss / MIB,
            "peak_mib": worst.rss["server"] / MIB,
            "growth_mb": worst.rss_growth / MB,
            "target_mb": RSS_TARGET_MB,
            "start_mib": extras.rss_start / MIB,
            "idle_before_each_mib": [m.idle_rss / MIB for m in backups],
            "highest_peak_mib": highest / MIB,
            "highest_over_start_mb": (highest - extras.rss_start) / MB,
            "restore_peak_mib": max(m.rss.get("server", 0) for m in restores) / MIB,
        },
        "dump_rss_mib": {
            "native": max(m.rss.get("mariadb-dump", 0) for m in natives) / MIB,
            "Lumbung": max(m.rss.get("mariadb-dump", 0) for m in backups) / MIB,
            "zstd": max(m.rss.get("zstd", 0) for m in natives) / MIB,
        },
        "reported_s": {
            "backup": [m.reported_seconds for m in backups if m.reported_seconds],
            "restore": [m.reported_seconds for m in restores if m.reported_seconds],
        },
        "follow": {
            "backup": median([m.polls for m in backups]),
            "restore": median([m.polls for m in restores]),
        },
        "poll_cpu_ms": {"backup": checks["poll_cpu_ms"], "restore": checks["restore_poll_cpu_ms"]},
        "poll_cost_requests": POLL_COST_REQUESTS,
        "checksummed": list(bigdb.CHECKSUMMED),
        "checksums": checks["checksums_ok"],
        "safety": None
        if safety is None
        else {
            "seconds": safety.seconds,
            "vs_restore": safety.seconds / restore["lumbung_s"],
            "safety_mb": extras.safety_bytes / MB,
            "peak_mib": safety.rss.get("server", 0) / MIB,
        },
        "cpus": len(os.sched_getaffinity(0)),
        "jobs": job_data(measures),
        "threads": [{"run": m.run, "threads": [list(t) for t in m.threads]} for m in backups],
        "info": info_data(measures, info, args.info_poll_ms / 1000) if info else None,
    }


def print_backups(measures: Sequence[Measure]) -> None:
    """--backups-only: the CPU table, the backup medians and their ratio alone."""
    native, ours = paired(measures, "backup")
    comparison = compare(native, ours)
    print("\n".join(report.job_table(job_data(measures))))
    ratios = ", ".join(f"{r:.2f}" for r in comparison.pair_ratios)
    interval = report.interval_note(list(comparison.interval), BACKUP_TARGET)
    print(
        f"backup: native {comparison.reference:.2f} s, Lumbung {comparison.ours:.2f} s, ratio "
        f"{comparison.ratio:.2f}x, 95% interval {interval} (per run: {ratios})"
    )


def thread_line(m: Measure) -> str:
    return report.thread_line([list(t) for t in m.threads])


# --------------------------------------------------------------------------- profiling


def profile_backup(ctx: Context, out_dir: Path, rate: int) -> str:
    """One extra Lumbung backup under `py-spy record` (not counted in the figures); returns a
    summary of where the server's sampled time went."""
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        return "py-spy is not installed in the venv: no profile taken."
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Counter[str]] = {}
    for mode, extra in (("cpu", []), ("gil", ["--gil"])):
        raw = out_dir / f"backup-{mode}.txt"
        with (out_dir / f"py-spy-{mode}.log").open("wb") as spy_log:
            recorder = spawn(
                [
                    str(py_spy),
                    "record",
                    "--pid",
                    str(ctx.server_process.pid),
                    "--rate",
                    str(rate),
                    "--format",
                    "raw",
                    "--threads",
                    "--nonblocking",
                    "--output",
                    str(raw),
                    *extra,
                ],
                stdin=subprocess.DEVNULL,
                stdout=spy_log,
                stderr=subprocess.STDOUT,
            )
        time.sleep(1.0)  # attached
        measure, backup_id, filename = lumbung_backup(ctx, 0, None)
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()
        delete_backup(ctx, backup_id, filename)
        log(f"profiled backup ({mode}): {measure.seconds:.2f} s -> {raw}")
        results[mode] = collapse(raw)
    lines = []
    for mode, counter in results.items():
        total = sum(counter.values()) or 1
        lines.append(f"{mode}: {total} samples")
        for frame, count in counter.most_common(12):
            lines.append(f"  {100 * count / total:5.1f}%  {frame}")
    return "\n".join(lines)


def collapse(raw: Path) -> Counter[str]:
    """py-spy's raw (collapsed-stack) output -> samples per innermost frame."""
    counter: Counter[str] = Counter()
    if not raw.exists():
        return counter
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        counter[f"{frames[0].split(' ')[0]} :: {frames[-1]}"] += int(count)
    return counter


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Lumbung's FULL backup and restore vs mariadb-dump | zstd and zstd -dc | "
        "mariadb, on a ~1 GB MariaDB database.",
    )
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs (default 3)")
    parser.add_argument(
        "--rows",
        type=int,
        default=bigdb.ROWS_DEFAULT,
        help=f"Message rows (default {bigdb.ROWS_DEFAULT:,}: ~1.03 GB of SQL)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep MariaDB's datadir in DIR and reuse it next time (generation is skipped "
        "when its tables still have the recorded checksums)",
    )
    parser.add_argument(
        "--tmp",
        type=Path,
        default=Path("/tmp"),  # noqa: S108 - a parent for mkdtemp(), on the big disk
        help="where the temp dir goes (MariaDB when not --keep, backup files; default /tmp)",
    )
    parser.add_argument(
        "--no-safety", action="store_true", help="skip the one restore with a safety backup"
    )
    parser.add_argument(
        "--poll-ms",
        type=int,
        default=0,
        help="follow Lumbung's jobs by polling them every N ms instead of through their "
        "progress subscription (default 0: the subscription, as the SPA follows a job)",
    )
    parser.add_argument(
        "--info-poll-ms",
        type=int,
        default=INFO_POLL_MS,
        help="after the runs, one more round (information) with Lumbung's jobs polled this "
        f"often, to show what polling costs; 0 skips it (default {INFO_POLL_MS})",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="LUMBUNG_X=VALUE",
        help="an extra server setting for its .env, e.g. LUMBUNG_ZSTD_LEVEL=1 (repeatable; "
        "recorded in the results)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="afterwards, profile one extra Lumbung backup with py-spy (must be in the venv) "
        "into DIR; not counted in the figures",
    )
    parser.add_argument(
        "--backups-only",
        action="store_true",
        help="only the backups (for quick A/B trials of a setting); implies --no-write and "
        "--info-poll-ms 0",
    )
    result_options(
        parser, quick="1 run on 2,000 messages, no information round, 1 s of settling at most"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.rows, args.info_poll_ms, args.no_write = 1, 2000, 0, True
    if args.backups_only:
        args.no_write, args.info_poll_ms, args.no_safety = True, 0, True
    if args.runs < 3 and not args.quick:
        parser.error("--runs must be at least 3: medians of fewer runs say little")
    if args.rows < 1000:
        parser.error("--rows must be at least 1000")
    if args.poll_ms < 0 or args.info_poll_ms < 0:
        parser.error("--poll-ms and --info-poll-ms must be at least 0")
    for setting in args.setting:
        key, sep, _ = setting.partition("=")
        if not sep or not key.startswith("LUMBUNG_") or key == "LUMBUNG_DATABASE_URL":
            parser.error(f"--setting takes LUMBUNG_NAME=VALUE (not the database URL): {setting}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_binaries()
    for tool in ("mariadb-dump", "zstd", "wc"):
        binary(tool)
    found: dict[str, Any] = facts()  # now: the server runs the code as it is when it starts
    found["load"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    tmp = Path(tempfile.mkdtemp(prefix="lumbung-bench-br-", dir=args.tmp))
    db: MariaDBServer | None = None
    server: LumbungServer | None = None
    try:
        log(f"starting MariaDB (temp dir {tmp}) ...")
        db, sums_before, reused = start_database(tmp, args.keep, args.rows)
        assert db.pid is not None
        mariadbd = psutil.Process(db.pid)
        mariadb_version = db.root_sql("SELECT VERSION();").strip()
        if reused:
            log(f"reusing the database kept in {args.keep}")

        from server.settings import Settings

        workdir = tmp / "lumbung"
        workdir.mkdir(mode=0o700)
        backup_dir = tmp / "lumbung-backups"
        native_dir = tmp / "native"
        native_dir.mkdir(mode=0o700)
        jwt_secret = secrets.token_urlsafe(48)
        dotenv = {
            "LUMBUNG_DATABASE_URL": db.url(DATABASE),
            "LUMBUNG_JWT_SECRET": jwt_secret,
            "LUMBUNG_DATA_DIR": str(workdir / "data"),
            "LUMBUNG_BACKUP_DIR": str(backup_dir),
            "LUMBUNG_ENVIRONMENT": "production",
            "LUMBUNG_LOG_LEVEL": "WARNING",
        }
        dotenv.update(setting.split("=", 1) for setting in args.setting)
        write_dotenv(workdir, dotenv)
        settings = Settings(_env_file=str(workdir / ".env"))
        server = LumbungServer(workdir, ready_path="/readyz")
        log("lumbung migrate ...")
        server.run_cli("migrate")
        log("starting lumbung serve ...")
        server.start()
        assert server.pid is not None
        token = server.run_cli("token", "--sub", "1", "--ttl", "12h")
        options = db.write_client_option_file(tmp / "client.cnf")
        ctx = Context(
            db=db,
            mariadbd=mariadbd,
            server=server,
            server_process=psutil.Process(server.pid),
            graphql=BlockingGraphQL(server.port, token, on_failure=server.check_alive),
            options=options,
            work=tmp,
            dump=dump_argv(settings, options),
            token=token,
            settle_max=1.0 if args.quick else SETTLE_MAX_SECONDS,
        )
        rss_start = ctx.server_process.memory_info().rss
        rows = bigdb.table_rows(db, DATABASE)
        innodb_bytes = bigdb.data_bytes(db, DATABASE)
        log(
            "data: "
            + ", ".join(f"{name} {count:,}" for name, count in rows.items())
            + f"; InnoDB {mb(innodb_bytes)} MB"
        )
        log("measuring the uncompressed dump once (mariadb-dump | wc -c) ...")
        sql_bytes, dump_seconds = dump_size(ctx)
        log(f"mariadb-dump writes {sql_bytes:,} bytes of SQL ({dump_seconds:.2f} s)")

        measures: list[Measure] = []
        info: list[Measure] = []
        checks: dict[str, Any] = {"checksums_ok": "not checked"}
        safety: Measure | None = None
        safety_bytes = 0
        poll = args.poll_ms / 1000 or None  # None: by subscription
        rounds: list[tuple[int, float | None]] = [(run, poll) for run in range(1, args.runs + 1)]
        if args.info_poll_ms:
            rounds.append((0, args.info_poll_ms / 1000))
        for run_number, interval in rounds:
            label = f"run {run_number}" if run_number else f"info round (polls every {interval} s)"
            done, backup_id, filename = one_round(
                ctx,
                run_number,
                label,
                native_dir,
                interval,
                None if run_number != 1 or args.backups_only else sums_before,
                checks,
                args.backups_only,
            )
            (measures if run_number else info).extend(done)
            if run_number == args.runs and not args.no_safety:
                log("default restore with its safety backup (once, information) ...")
                safety, item = lumbung_restore(ctx, 0, backup_id, filename, safety=True, poll=poll)
                safety.work = "restore+safety"
                log(f"restore with safety backup: {safety.seconds:.2f} s")
                if item.get("safetyBackupId"):
                    safety_id = int(item["safetyBackupId"])
                    row = ctx.graphql(BACKUP_FILENAME, id=safety_id)["backup"]
                    safety_bytes = int(row["fileSize"])
                    delete_backup(ctx, safety_id, str(row["filename"]))
            delete_backup(ctx, backup_id, filename)

        if args.backups_only:
            print_backups(measures)
            return 0
        profile_note = ""
        if args.profile is not None:
            summary = profile_backup(ctx, args.profile, rate=200)
            print(summary)
            profile_note = f"py-spy profile of one extra backup: see {args.profile}"
        datadir = (
            "kept in --keep DIR (reused)"
            if reused
            else ("kept in --keep DIR (generated now)" if args.keep else "in the temp dir")
        )
        found.update(
            versions=versions(mariadb_version, settings.zstd_level, settings.zstd_threads),
            data={
                "rows": rows,
                "innodb_mb": innodb_bytes / MB,
                "sql_bytes": sql_bytes,
                "dump_s": dump_seconds,
            },
            mariadb="tests.support.mariadb.MariaDBServer (innodb_buffer_pool_size 128M, "
            f"innodb_flush_log_at_trx_commit 2), datadir {datadir}",
            profile_note=profile_note,
        )
        extras = Extras(rss_start, checks, info, safety, safety_bytes)
        data = result(args, ctx, measures, found, extras)
        publish(NAME, data, write=not args.no_write)
        return 0
    finally:
        if server is not None:
            server.cleanup()
        end_children()
        if db is not None:
            db.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run(main)
