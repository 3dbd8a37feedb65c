"""1,000 websocket subscribers on one running backup: delivery latency and server memory.

Starts a private Redis (tests.support.redis.RedisServer) and real Lumbung servers (`python -m
server serve`: production settings, one uvicorn worker or `--workers N`, SQLite demo database, zstd
level 19 with one thread), then, run by run:

1. starts a fresh server (every run starts from the same idle RSS) and samples its idle RSS;
2. starts a FULL backup (`createBackup` over HTTP);
3. opens N graphql-transport-ws connections from 2 client processes (this script in `--client`
   mode), ~100 at a time, each subscribing to `backupProgress(id)`; a subscriber counts as
   subscribed when its first `next` (the job's current state) arrives;
4. records, for every `next` message, the receipt wall time minus the event's `emittedAt` (its
   publication time); only events published after the last subscriber is subscribed count;
5. checks that every subscriber got the final event, and how long after its publication the
   last one got it; samples the server's RSS and CPU (and the clients' CPU) every 100 ms.

Runs alternate between a 1-subscriber baseline and N subscribers. The SQLite engine reports
progress when it starts a table, not within one, so two database layouts are measured:

* `stream`: 100,000 messages in `Message`, dumped first: a quiet head (no events; each
  process's shared stream checks the catalog every 2 s) in which the subscribers connect;
  then 120,000 spread over 500 copies of `Message`, so events flow at the tracker's cap
  (~5/s).
* `one-table`: 120,000 messages in `Message` (as tests/events/test_subscriptions.py grows
  it): a few events at the table boundaries, and catalog checks in between.

It prints and writes (bench/results/subscribers.json, or subscribers-N-workers.json, then
bench/RESULTS.md) p50/p95/p99/max latency, events per subscriber, messages, the final event's
fan-out, RSS (idle, peak, per extra subscriber), and the medians over runs.

    .venv/bin/python -m bench.subscribers [--subscribers 1000] [--runs 3]
    .venv/bin/python -m bench.subscribers --quick   # a smoke run that records nothing

`--profile PATH` adds one unrecorded N-subscriber run at the end with `py-spy record --gil`
attached to the server for 10 s of the fan-out (PATH ending in .svg: a flame graph; anything
else: py-spy's raw collapsed stacks).

Everything it starts (Redis, servers, clients, py-spy) and every temp dir goes away at the end,
also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import queue
import re
import resource
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import psutil

from bench.harness import (
    REPO,
    BenchmarkError,
    facts,
    log,
    median,
    package_version,
    publish,
    result_options,
    run,
)
from bench.report.subscribers import describe
from tests.support.children import child_env, die_with_parent, stop_process
from tests.support.files import tail, write_dotenv
from tests.support.graphql import BlockingGraphQL
from tests.support.lumbung import LumbungServer
from tests.support.redis import RedisServer
from tests.support.websocket import PONG, graphql_socket, payload_of

TARGET_P99_MS = 100.0
# Messages added to the demo database; a FULL backup of 120,000 takes ~30-45 s at level 19
# with nobody watching. Stream: a quiet head first (`Message`, no events while it is dumped)
# in which 1,000 subscribers connect in ~20 s (with events flowing it takes 80-100 s: the
# fan-out starves the handshakes), then 500 tables, one event per table start, ~5/s.
DEFAULT_ROWS = 120_000
DEFAULT_HEAD_ROWS = 100_000
DEFAULT_TABLES = 500
SCENARIOS = ("stream", "one-table")
ZSTD_LEVEL = 19
SUBSCRIPTION = (
    "subscription ($id: Int!) { backupProgress(id: $id) { sequence status phase emittedAt } }"
)
CREATE_BACKUP = "mutation { createBackup(input: {backupType: FULL}) { backup { id } } }"
FINAL_STATUSES = ("COMPLETED", "FAILED")
SAMPLE_SECONDS = 0.1
READY_TIMEOUT = 60.0
SUBSCRIBE_TIMEOUT = 300.0  # all N subscribed
JOB_TIMEOUT = 900.0  # the backup's end reaching every subscriber
STOP_TIMEOUT = 15.0
PROFILE_SECONDS = 10


# --------------------------------------------------------------------------- small helpers


def raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit (children inherit it); return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft)


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


# =========================================================================== client mode
#
# `subscribers.py --client` reads one JSON line from stdin (url, token, backup id, how many
# subscribers, batch size, where to write), opens its subscribers, prints
# {"event": "subscribed", ...} once all of them have their first `next`, and
# {"event": "done", ...} once every stream has completed; the raw records go to a JSON file.


@dataclass
class Subscriber:
    first_at: float = 0.0  # receipt time of the first `next` (the subscription is live)
    # (sequence, emittedAt as Unix time, receipt time, status), in receipt order
    events: list[tuple[int, float, float, str]] = field(default_factory=list)
    completed: bool = False


async def _subscribe_one(
    config: dict[str, Any], record: Subscriber, subscribed: asyncio.Event
) -> None:
    async with graphql_socket(
        config["url"],
        compression="deflate" if config["deflate"] else None,
        open_timeout=60,
        ping_interval=None,  # browsers send no websocket pings either
        close_timeout=10,
    ) as socket:
        ack = await socket.init({"Authorization": f"Bearer {config['token']}"})
        if ack.get("type") != "connection_ack":
            raise BenchmarkError(f"connection_init answered {ack}")
        operation = await socket.subscribe(SUBSCRIPTION, {"id": config["backup_id"]})
        while True:
            message, received = await socket.receive_timed()
            if message.get("type") == "ping":
                await socket.connection.send(PONG)
                continue
            done, payload = payload_of(message, operation)
            if done:
                if not subscribed.is_set():
                    raise BenchmarkError("the stream completed before its first event")
                record.completed = True
                return
            if payload is None:
                continue
            event = payload["data"]["backupProgress"]
            emitted = datetime.fromisoformat(event["emittedAt"]).timestamp()
            record.events.append((event["sequence"], emitted, received, event["status"]))
            if not subscribed.is_set():
                record.first_at = received
                subscribed.set()


def _emit(out: IO[str], **fields: Any) -> None:
    out.write(json.dumps(fields) + "\n")
    out.flush()


async def _until_subscribed(
    flags: list[asyncio.Event], tasks: list[asyncio.Task[None]], deadline: float
) -> None:
    """Wait until every flag is set; a subscriber failing meanwhile ends the whole ramp."""
    everyone = asyncio.ensure_future(asyncio.gather(*(flag.wait() for flag in flags)))
    try:
        while not everyone.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = sum(not flag.is_set() for flag in flags)
                raise BenchmarkError(f"{missing} subscribers not subscribed in time")
            watched: list[asyncio.Future[Any]] = [everyone, *(t for t in tasks if not t.done())]
            await asyncio.wait(watched, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise BenchmarkError(f"a subscriber failed: {task.exception()!r}")
    finally:
        everyone.cancel()


async def run_client(config: dict[str, Any], out: IO[str]) -> None:
    count: int = config["count"]
    batch: int = config["batch"]
    records = [Subscriber() for _ in range(count)]
    tasks: list[asyncio.Task[None]] = []
    started = time.time()
    failures: list[BaseException] = []
    pending: set[asyncio.Task[None]] = set()
    try:
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
        for begin in range(0, count, batch):
            flags = []
            for index in range(begin, min(begin + batch, count)):
                flag = asyncio.Event()
                flags.append(flag)
                tasks.append(asyncio.create_task(_subscribe_one(config, records[index], flag)))
            await _until_subscribed(flags, tasks, deadline)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        _emit(
            out,
            event="subscribed",
            count=count,
            at=max(r.first_at for r in records),
            ramp_seconds=time.time() - started,
            cpu=usage.ru_utime + usage.ru_stime,
        )
        _, pending = await asyncio.wait(tasks, timeout=JOB_TIMEOUT)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                failures.append(task.exception())  # type: ignore[arg-type]
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*tasks, return_exceptions=True)
    result = {
        "subscribers": [
            {"first_at": r.first_at, "completed": r.completed, "events": r.events} for r in records
        ],
        "errors": [f"{type(e).__name__}: {e}" for e in failures[:5]],
        "failed": len(failures),
        "timed_out": len(pending),
    }
    await asyncio.to_thread(Path(config["results"]).write_text, json.dumps(result), "utf-8")
    _emit(out, event="done", failed=len(failures), timed_out=len(pending))


def client_main() -> int:
    config = json.loads(sys.stdin.readline())
    raise_fd_limit(config["count"] + 256)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    try:
        asyncio.run(run_client(config, sys.stdout))
    except Exception as exc:  # the parent reports it
        _emit(sys.stdout, event="error", message=f"{type(exc).__name__}: {exc}")
        return 1
    return 0


# =========================================================================== parent mode


def graphql(server: LumbungServer, token: str, query: str) -> dict[str, Any]:
    client = BlockingGraphQL(server.port, token, timeout=60, on_failure=server.check_alive)
    try:
        return client(query)
    finally:
        client.close()


def grow(database: Path, head: int, rows: int, copies: int) -> None:
    """Add messages like tests/events/test_subscriptions.py's `_grow`: `head` to `Message`,
    and `rows` spread evenly over `copies` copies of it (`Message_0001`, ...: same definition,
    dumped after `Message`: the engine dumps tables in name order)."""
    names = [f"Message_{k:04d}" for k in range(1, copies + 1)]
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (create,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'Message'"
        ).fetchone()
        for name in names:
            ddl, found = re.subn(
                r"^CREATE TABLE\s+(\"Message\"|`Message`|\[Message\]|Message)(?=[\s(])",
                f'CREATE TABLE "{name}"',
                create,
                count=1,
            )
            if not found:
                raise BenchmarkError(f"unexpected definition of Message: {create[:80]}")
            connection.execute(ddl)
        counts = [("Message", head)] + [
            (name, rows // copies + (1 if k < rows % copies else 0)) for k, name in enumerate(names)
        ]
        for name, count in counts:
            connection.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                f'INSERT INTO "{name}" (userId, content, createdAt) '
                "SELECT 2, hex(randomblob(60)) || ' pesan nomor ' || i, '2024-01-02 08:00:00' "
                "FROM n",
                (count,),
            )
        connection.commit()
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class Sampler:
    """Every 100 ms: the server's RSS and CPU time, and the clients' CPU time."""

    def __init__(self, server_pid: int) -> None:
        self.server = psutil.Process(server_pid)
        self.clients: list[psutil.Process] = []
        # (wall time, server RSS, server CPU seconds, clients' CPU seconds)
        self.samples: list[tuple[float, int, float, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._client_cpu: dict[int, float] = {}  # last reading: kept once a client exits
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add_client(self, pid: int) -> None:
        with self._lock:
            self.clients.append(psutil.Process(pid))

    def _clients_cpu(self) -> float:
        for process in self.clients:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                self._client_cpu[process.pid] = times.user + times.system
        return sum(self._client_cpu.values())

    def sample(self) -> None:
        with self._lock:
            # With --workers N, uvicorn's supervisor and its N worker processes.
            tree = [self.server, *self.server.children(recursive=True)]
            memory = cpu = 0.0
            for process in tree:
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    memory += process.memory_info().rss
                    cpu += times.user + times.system
            self.samples.append((time.time(), int(memory), cpu, self._clients_cpu()))

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.sample()
            self._stop.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.sample()  # the clients are still there: the last CPU reading counts them
        self._stop.set()
        self._thread.join(timeout=5)

    def at(self, moment: float) -> tuple[float, int, float, float]:
        """The sample nearest to `moment`."""
        return min(self.samples, key=lambda s: abs(s[0] - moment))


@dataclass
class ClientProcess:
    proc: subprocess.Popen[str]
    results: Path
    log_path: Path
    lines: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)

    def pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(json.JSONDecodeError):
                self.lines.put(json.loads(line))
        self.lines.put({"event": "exit"})

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        try:
            message = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchmarkError(f"a client process sent no '{event}' in {timeout:.0f} s") from None
        if message.get("event") != event:
            detail = message.get("message") or tail(self.log_path)
            raise BenchmarkError(f"a client process failed (expected '{event}'): {detail}")
        return message


def start_clients(
    tmp: Path, run: str, count: int, processes: int, batch: int, config: dict[str, Any]
) -> list[ClientProcess]:
    clients: list[ClientProcess] = []
    per = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
    per = [n for n in per if n]
    for index, n in enumerate(per):
        results = tmp / f"{run}-client{index}.json"
        log_path = tmp / f"{run}-client{index}.log"
        with log_path.open("ab") as errors:
            proc = subprocess.Popen(
                [*die_with_parent(), sys.executable, "-m", "bench.subscribers", "--client"],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=child_env(),
                text=True,
                close_fds=True,
                start_new_session=True,
            )
        client = ClientProcess(proc, results, log_path)
        clients.append(client)
        assert proc.stdin is not None
        # The token goes over a pipe: never in argv or the environment.
        proc.stdin.write(
            json.dumps(
                {
                    **config,
                    "count": n,
                    "batch": max(1, -(-batch // len(per))),  # ~`batch` at a time in all
                    "results": str(results),
                }
            )
            + "\n"
        )
        proc.stdin.close()
        threading.Thread(target=client.pump, daemon=True).start()
    return clients


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    scenario: str
    label: str  # "baseline" or "N"
    index: int
    subscribers: int
    ramp_seconds: float = 0.0
    window_seconds: float = 0.0  # all subscribed -> final event published
    backup_seconds: float = 0.0  # createBackup answered -> final event published
    published: int = 0  # distinct events published in the window (seen by anyone)
    events_median: float = 0.0
    events_min: int = 0
    events_max: int = 0
    skipped_median: float = 0.0  # events of the window a subscriber never got (queue of one)
    messages: int = 0  # `next` messages counted (in the window)
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    final_received: int = 0
    final_fanout_ms: float = 0.0  # final event published -> the last subscriber has it
    server_cpu: float = 0.0  # % of one core over the window (the dump + zstd thread included)
    client_cpu: float = 0.0  # all client processes, % of one core over the window
    rss_idle: float = 0.0  # MiB
    rss_subscribed: float = 0.0
    rss_peak: float = 0.0

    @property
    def per_subscriber_kib(self) -> float:
        return (self.rss_peak - self.rss_idle) * 1024 / self.subscribers


@dataclass
class Summary:
    runs: list[Run] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(float(getattr(r, name)) for r in self.runs)

    @property
    def subscribers(self) -> int:
        return self.runs[0].subscribers


@dataclass
class Scenario:
    """One database layout, served by its own server (and measured by its own runs)."""

    name: str
    head: int  # messages in `Message`, dumped first: no progress event while it is dumped
    rows: int  # messages spread over the copies
    copies: int  # copies of `Message`, dumped after it: one progress event per table start
    workdir: Path  # the server's: its database, its `.env`, its logs
    workers: int
    redis_url: str
    db_mib: float = 0.0
    backup_seconds: float = 0.0  # a FULL backup with nobody watching
    base: Summary = field(default_factory=Summary)
    many: Summary = field(default_factory=Summary)

    def new_server(self) -> LumbungServer:
        """A fresh server process on this scenario's database (every run starts one)."""
        return LumbungServer(self.workdir, workers=self.workers)

    @property
    def describe(self) -> str:
        return describe({"head": self.head, "rows": self.rows, "copies": self.copies})


def measure(
    args: argparse.Namespace,
    tmp: Path,
    scenario: Scenario,
    token: str,
    label: str,
    index: int,
    subscribers: int,
    profile: Path | None = None,
) -> Run:
    run_name = f"{scenario.name}-{label}-{index}"
    server = scenario.new_server().start()
    assert server.pid is not None
    clients: list[ClientProcess] = []
    spy: subprocess.Popen[bytes] | None = None
    sampler: Sampler | None = None
    try:
        graphql(server, token, "{ me { subject } }")  # the schema and the token path are warm
        time.sleep(1.0)
        sampler = Sampler(server.pid)
        sampler.sample()
        idle = sampler.samples[-1][1]
        sampler.start()
        created = time.time()
        backup_id = graphql(server, token, CREATE_BACKUP)["createBackup"]["backup"]["id"]
        clients = start_clients(
            tmp,
            run_name,
            subscribers,
            args.client_processes,
            args.batch,
            {
                "url": server.ws,
                "token": token,
                "backup_id": backup_id,
                "deflate": not args.no_deflate,
            },
        )
        for client in clients:
            sampler.add_client(client.proc.pid)
        ready = [client.expect("subscribed", SUBSCRIBE_TIMEOUT + 30) for client in clients]
        subscribed_at = max(message["at"] for message in ready)
        log(
            f"  {subscribers} subscribed in {max(m['ramp_seconds'] for m in ready):.1f} s "
            f"(backup {backup_id})"
        )
        if profile is not None:
            if scenario.copies:
                wait_for_stream(scenario.redis_url, backup_id)
            spy = start_profiler(server.pid, profile)
        for client in clients:
            finished = client.expect("done", JOB_TIMEOUT + 30)
            if finished["failed"] or finished["timed_out"]:
                detail = json.loads(client.results.read_text())["errors"]
                raise BenchmarkError(
                    f"{finished['failed']} subscribers failed, {finished['timed_out']} timed "
                    f"out: {detail}"
                )
        sampler.stop()
        if spy is not None:
            finish_profiler(spy)
            spy = None
        for client in clients:
            client.proc.wait(timeout=STOP_TIMEOUT)
        records: list[dict[str, Any]] = []
        for client in clients:
            records += json.loads(client.results.read_text())["subscribers"]
        if args.keep_raw is not None:
            args.keep_raw.mkdir(parents=True, exist_ok=True)
            raw = {"subscribed_at": subscribed_at, "rss": sampler.samples, "subscribers": records}
            (args.keep_raw / f"{run_name}.json").write_text(json.dumps(raw), encoding="utf-8")
        run = analyse(scenario.name, label, index, records, subscribed_at, created, sampler, idle)
        run.ramp_seconds = max(m["ramp_seconds"] for m in ready)
        return run
    finally:
        if sampler is not None:
            sampler.stop()
        stop_process(spy)
        for client in clients:
            stop_process(client.proc)
        server.cleanup()


def analyse(
    scenario: str,
    label: str,
    index: int,
    records: list[dict[str, Any]],
    subscribed_at: float,
    created: float,
    sampler: Sampler,
    idle: int,
) -> Run:
    n = len(records)
    run = Run(scenario, label, index, n)
    latencies: list[float] = []
    counts: list[int] = []
    published: set[int] = set()
    mine: list[set[int]] = []
    final_emitted: float | None = None
    final_receipts: list[float] = []
    for record in records:
        sequences = set()
        for sequence, emitted, received, _status in record["events"]:
            if emitted > subscribed_at:
                latencies.append((received - emitted) * 1000)
                sequences.add(sequence)
        counts.append(len(sequences))
        published |= sequences
        mine.append(sequences)
        if record["events"]:
            _, emitted, received, status = record["events"][-1]
            if status in FINAL_STATUSES and record["completed"]:
                if status != "COMPLETED":
                    raise BenchmarkError(f"the backup ended {status}")
                final_emitted = emitted
                final_receipts.append(received)
    if final_emitted is None:
        raise BenchmarkError("no subscriber received the final event")
    if final_emitted <= subscribed_at:
        raise BenchmarkError(
            "the backup ended before every subscriber was subscribed: raise --rows"
        )
    latencies.sort()
    run.published = len(published)
    run.events_median = statistics.median(counts)
    run.events_min, run.events_max = min(counts), max(counts)
    run.skipped_median = statistics.median(len(published - s) for s in mine)
    run.messages = len(latencies)
    run.p50, run.p95 = percentile(latencies, 50), percentile(latencies, 95)
    run.p99, run.max = percentile(latencies, 99), latencies[-1]
    run.final_received = len(final_receipts)
    run.final_fanout_ms = (max(final_receipts) - final_emitted) * 1000
    run.window_seconds = final_emitted - subscribed_at
    run.backup_seconds = final_emitted - created
    begin, end = sampler.at(subscribed_at), sampler.at(max(final_receipts))
    span = max(end[0] - begin[0], 1e-9)
    run.server_cpu = 100 * (end[2] - begin[2]) / span
    run.client_cpu = 100 * (end[3] - begin[3]) / span
    mib = 2**20
    run.rss_idle = idle / mib
    run.rss_subscribed = begin[1] / mib
    run.rss_peak = max(s[1] for s in sampler.samples) / mib
    return run


def wait_for_stream(redis_url: str, backup_id: int) -> None:
    """Return once the backup dumps the copies of `Message` (events flow), as the job's latest
    state in Redis says: the profile is of the fan-out, not of the quiet head."""
    from redis import Redis

    client = Redis.from_url(redis_url)
    deadline = time.monotonic() + JOB_TIMEOUT
    try:
        while time.monotonic() < deadline:
            raw = client.get(f"lumbung:progress:backup:{backup_id}")
            state = json.loads(raw) if raw else {}
            if str(state.get("current_table") or "").startswith("Message_"):
                return
            if state.get("status") in ("completed", "failed"):
                raise BenchmarkError("the backup ended before its events flowed")
            time.sleep(0.2)
    finally:
        client.close()
    raise BenchmarkError("the backup's events never flowed")


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).with_name("py-spy")
    binary = str(spy) if spy.exists() else shutil.which("py-spy")
    if binary is None:
        raise BenchmarkError("py-spy is not installed (pip install py-spy)")
    kind = "flamegraph" if output.suffix == ".svg" else "raw"
    log(f"  py-spy record {PROFILE_SECONDS} s -> {output} ({kind})")
    return subprocess.Popen(
        [
            *die_with_parent(),
            *(binary, "record", "-p", str(pid), "-d", str(PROFILE_SECONDS)),
            # --gil: only the thread holding the GIL, i.e. where the Python time goes.
            *("-r", "200", "--gil", "--threads", "-f", kind, "-o", str(output)),
            "--subprocesses",  # uvicorn's workers, with --workers N
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def finish_profiler(spy: subprocess.Popen[bytes]) -> None:
    """Let py-spy finish its recording (it writes the file on exit); SIGINT makes it stop early."""
    try:
        spy.wait(timeout=PROFILE_SECONDS + 30)
    except subprocess.TimeoutExpired:
        spy.send_signal(signal.SIGINT)
        stop_process(spy)
    if spy.returncode:
        log(f"  py-spy exited with code {spy.returncode}")


# --------------------------------------------------------------------------- the result


def marginal_kib(scenario: Scenario) -> float:
    """RSS growth per extra subscriber: median (peak - idle) of the N runs minus that of the
    1-subscriber runs, so the backup's own memory (zstd level 19: ~90 MiB) cancels out."""
    many, base = scenario.many, scenario.base
    grow_many = median([r.rss_peak - r.rss_idle for r in many.runs])
    grow_base = median([r.rss_peak - r.rss_idle for r in base.runs])
    return (grow_many - grow_base) * 1024 / max(many.subscribers - base.subscribers, 1)


def versions(redis_version: str) -> str:
    packages = ", ".join(
        f"{name} {package_version(name)}"
        for name in (
            "graphql-core",
            "starlette",
            "uvicorn",
            "uvloop",
            "websockets",
            "redis",
            "hiredis",
            "zstandard",
        )
    )
    return (
        f"Python {platform.python_version()}, strawberry-graphql "
        f"{package_version('strawberry-graphql')}; {packages}; Redis server {redis_version}; "
        f"SQLite {sqlite3.sqlite_version}"
    )


def redis_server_version() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        return "?"
    out = subprocess.run([binary, "--version"], capture_output=True, check=False).stdout.decode()
    match = re.search(r"v=(\S+)", out)
    return match.group(1) if match else "?"


def run_data(r: Run) -> dict[str, Any]:
    return {
        "scenario": r.scenario,
        "run": r.index,
        "subscribers": r.subscribers,
        "ramp_s": r.ramp_seconds,
        "window_s": r.window_seconds,
        "published": r.published,
        "events_median": r.events_median,
        "events_min": r.events_min,
        "events_max": r.events_max,
        "messages": r.messages,
        "p50_ms": r.p50,
        "p95_ms": r.p95,
        "p99_ms": r.p99,
        "max_ms": r.max,
        "final_received": r.final_received,
        "final_fanout_ms": r.final_fanout_ms,
        "server_cpu_pct": r.server_cpu,
        "clients_cpu_pct": r.client_cpu,
        "rss_idle_mib": r.rss_idle,
        "rss_subscribed_mib": r.rss_subscribed,
        "rss_peak_mib": r.rss_peak,
        "backup_s": r.backup_seconds,
    }


def median_data(scenario: Scenario, s: Summary) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "subscribers": s.subscribers,
        "p50_ms": s.median("p50"),
        "p95_ms": s.median("p95"),
        "p99_ms": s.median("p99"),
        "max_ms": s.median("max"),
        "events": s.median("events_median"),
        "messages": s.median("messages"),
        "final_fanout_ms": s.median("final_fanout_ms"),
        "server_cpu_pct": s.median("server_cpu"),
        "rss_idle_mib": s.median("rss_idle"),
        "rss_peak_mib": s.median("rss_peak"),
        "per_subscriber_kib": marginal_kib(scenario) if s is scenario.many else None,
    }


def result(
    args: argparse.Namespace, scenarios: Sequence[Scenario], found: dict[str, str]
) -> dict[str, Any]:
    order = {s.name: k for k, s in enumerate(scenarios)}
    all_runs = [r for s in scenarios for r in (*s.base.runs, *s.many.runs)]
    all_runs.sort(key=lambda r: (order[r.scenario], r.index, r.subscribers))
    return {
        "benchmark": "subscribers",
        **found,
        "subscribers": args.subscribers,
        "workers": args.workers,
        "load": {
            "runs": args.runs,
            "client_processes": args.client_processes,
            "websockets": package_version("websockets"),
            "deflate": not args.no_deflate,
            "batch": args.batch,
        },
        "scenarios": [
            {
                "name": s.name,
                "head": s.head,
                "rows": s.rows,
                "copies": s.copies,
                "db_mib": s.db_mib,
                "backup_s": s.backup_seconds,
                "p99_ms": s.many.median("p99"),
                "fanout_cost_ms": s.many.median("p99") - s.base.median("p99"),
                "per_subscriber_kib": marginal_kib(s),
            }
            for s in scenarios
        ],
        "runs": [run_data(r) for r in all_runs],
        "medians": [median_data(s, summary) for s in scenarios for summary in (s.base, s.many)],
        "target_p99_ms": TARGET_P99_MS,
        "every_final_received": all(
            r.final_received == r.subscribers for s in scenarios for r in s.many.runs
        ),
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="N websocket subscribers on one running backup: latency and server RSS.",
    )
    parser.add_argument("--subscribers", type=int, default=1000, help="N (default 1000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes (`lumbung serve --workers`, default 1); not 1: "
        "its own result and section of RESULTS.md",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="runs with N and with 1 subscriber (default 3)"
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=DEFAULT_ROWS,
        help=f"messages: one-table's `Message`, stream's copies (default {DEFAULT_ROWS})",
    )
    parser.add_argument(
        "--head-rows",
        type=int,
        default=DEFAULT_HEAD_ROWS,
        help=f"stream: messages in `Message`, dumped first (default {DEFAULT_HEAD_ROWS})",
    )
    parser.add_argument(
        "--tables",
        type=int,
        default=DEFAULT_TABLES,
        help=f"stream: copies of `Message` that --rows are spread over (default {DEFAULT_TABLES})",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from {', '.join(SCENARIOS)} (default: both)",
    )
    parser.add_argument(
        "--batch", type=int, default=100, help="connections opened at a time (default 100)"
    )
    parser.add_argument(
        "--client-processes", type=int, default=2, help="client processes (default 2)"
    )
    parser.add_argument(
        "--no-deflate",
        action="store_true",
        help="clients do not offer permessage-deflate (browsers do; the default offers it)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="PATH",
        help="one more (unrecorded) N-subscriber run of the first scenario with py-spy on "
        "the server: .svg = flame graph, else raw collapsed stacks",
    )
    result_options(parser, quick="10 subscribers, 1 run, small databases")
    parser.add_argument(
        "--keep-raw",
        type=Path,
        metavar="DIR",
        help="also write each run's receipts and RSS samples to DIR/<run>.json",
    )
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        return args
    if args.quick:
        args.subscribers, args.runs, args.client_processes, args.batch = 10, 1, 1, 10
        args.rows, args.head_rows, args.tables, args.no_write = 5_000, 5_000, 10, True
    if args.runs < 1 or args.subscribers < 2 or args.batch < 1 or args.client_processes < 1:
        parser.error("--runs and --batch must be positive, --subscribers at least 2")
    if args.rows < 0 or args.head_rows < 0 or args.tables < 1:
        parser.error("--rows and --head-rows must not be negative, --tables at least 1")
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown or not args.scenarios:
        parser.error(f"--scenarios: choose from {', '.join(SCENARIOS)}")
    return args


def prepare(
    name: str, tmp: Path, redis_url: str, secret: str, args: argparse.Namespace
) -> Scenario:
    """The scenario's own database and server dir: migrated, seeded, grown."""
    workdir = tmp / name
    workdir.mkdir(mode=0o700)
    database = workdir / "app.db"
    write_dotenv(
        workdir,
        {
            "LUMBUNG_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "LUMBUNG_DEMO_DATA": "true",
            "LUMBUNG_REDIS_URL": redis_url,
            "LUMBUNG_JWT_SECRET": secret,
            "LUMBUNG_ENVIRONMENT": "production",
            "LUMBUNG_MIGRATE_ON_START": "true",
            "LUMBUNG_LOG_LEVEL": "WARNING",
            "LUMBUNG_ZSTD_LEVEL": str(ZSTD_LEVEL),
            "LUMBUNG_ZSTD_THREADS": "0",
            "LUMBUNG_DATA_DIR": str(workdir / "data"),
            "LUMBUNG_BACKUP_DIR": str(workdir / "backups"),
        },
    )
    if name == "stream":
        scenario = Scenario(
            name, args.head_rows, args.rows, args.tables, workdir, args.workers, redis_url
        )
    else:
        scenario = Scenario(name, args.rows, 0, 0, workdir, args.workers, redis_url)
    LumbungServer(workdir).start().cleanup()  # one process migrates and seeds
    grow(database, scenario.head, scenario.rows, scenario.copies)
    scenario.db_mib = database.stat().st_size / 2**20
    return scenario


def time_backup(scenario: Scenario, token: str) -> None:
    """A FULL backup with nobody watching: how long a run's window can be."""
    server = scenario.new_server().start()
    try:
        started = time.time()
        backup_id = graphql(server, token, CREATE_BACKUP)["createBackup"]["backup"]["id"]
        while True:
            time.sleep(0.2)
            status = graphql(server, token, f"{{ backup(id: {backup_id}) {{ status }} }}")
            if status["backup"]["status"] != "IN_PROGRESS":
                break
        scenario.backup_seconds = time.time() - started
    finally:
        server.cleanup()
    if status["backup"]["status"] != "COMPLETED":
        raise BenchmarkError(f"the timing backup ended {status['backup']['status']}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client:
        return client_main()
    found = facts()
    limit = raise_fd_limit(args.subscribers + 1024)  # the server inherits it
    if limit < args.subscribers + 64:
        raise BenchmarkError(f"RLIMIT_NOFILE is {limit}: too low for {args.subscribers} sockets")
    tmp = Path(tempfile.mkdtemp(prefix="lumbung-bench-subs-"))
    redises: list[RedisServer] = []
    scenarios: list[Scenario] = []
    try:
        secret = secrets.token_urlsafe(64)
        for name in args.scenarios:
            # Its own Redis: both databases number their backups 1, 2, ..., and a job's
            # latest state lives in Redis under `backup:<id>`.
            redis = RedisServer()
            redises.append(redis)
            redis.start()
            scenarios.append(prepare(name, tmp, redis.url, secret, args))
            log(f"{name}: {scenarios[-1].describe}")
        ttl = 60 + 30 * args.runs
        token = scenarios[0].new_server().run_cli("token", "--sub", "1", "--ttl", f"{ttl}m")
        for scenario in scenarios:
            time_backup(scenario, token)
            log(
                f"{scenario.name}: {scenario.db_mib:.1f} MiB; a FULL backup alone takes "
                f"{scenario.backup_seconds:.1f} s"
            )

        for index in range(1, args.runs + 1):
            for scenario in scenarios:
                for summary, n in ((scenario.base, 1), (scenario.many, args.subscribers)):
                    label = "baseline" if n == 1 else "N"
                    log(f"run {index}/{args.runs} {scenario.name}: {n} subscriber(s)")
                    measured = measure(args, tmp, scenario, token, label, index, n)
                    summary.runs.append(measured)
                    log(
                        f"  p50 {measured.p50:.1f} ms  p99 {measured.p99:.1f} ms  "
                        f"max {measured.max:.1f} ms  events {measured.published}, per "
                        f"subscriber {measured.events_median:g}  final "
                        f"{measured.final_received}/{measured.subscribers} in "
                        f"{measured.final_fanout_ms:.0f} ms  RSS {measured.rss_idle:.0f} -> "
                        f"{measured.rss_peak:.0f} MiB  server CPU {measured.server_cpu:.0f}%"
                    )
        found["versions"] = versions(redis_server_version())
        data = result(args, scenarios, found)
        name = "subscribers" if args.workers == 1 else f"subscribers-{args.workers}-workers"
        publish(name, data, write=not args.no_write)
        if args.profile is not None:
            scenario = scenarios[0]
            log(f"profiled run (not counted): {scenario.name}, {args.subscribers} subscribers")
            profiled = measure(
                args, tmp, scenario, token, "profile", 0, args.subscribers, args.profile
            )
            log(f"  profiled: p50 {profiled.p50:.1f} ms  p99 {profiled.p99:.1f} ms (py-spy)")
        return 0
    finally:
        for redis in redises:
            redis.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run(main)
