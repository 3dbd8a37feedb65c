"""GraphQL `backups(limit: 100)` against a bare Starlette JSON endpoint, side by side.

Starts a private MariaDB (tests.support.mariadb.MariaDBServer), builds Lumbung's catalog and
demo data with Lumbung's own code, adds 100 backups and restore logs, then starts two real
servers:

* Lumbung: `lumbung serve` (production settings, one uvicorn worker, log level WARNING);
* the baseline: bench/bare_endpoint.py (one uvicorn worker, no access log), which reads the
  same rows with SQLAlchemy and answers the same JSON without GraphQL.

It checks that both answer the same data, then loads each with `wrk` (one thread, so the other
core is left to the server), interleaving the targets run by run (GraphQL, bare, GraphQL,
bare, ...) after one unrecorded warm-up run each. It reports requests/s and p99 latency per run,
their medians, and the ratios of the medians (with a 95% interval), and writes
bench/results/graphql_vs_bare.json (then bench/RESULTS.md).

    .venv/bin/python -m bench.graphql_vs_bare [--runs 5] [--duration 12] [--connections 16]
    .venv/bin/python -m bench.graphql_vs_bare --quick   # a smoke run that records nothing

Everything it starts (MariaDB, both servers, wrk) and every temp dir goes away at the end,
also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil

from bench.harness import (
    BENCH,
    BenchmarkError,
    compare,
    facts,
    log,
    median,
    package_version,
    publish,
    result_options,
    run,
)
from tests.support.binaries import ensure_binaries
from tests.support.children import die_with_parent
from tests.support.factories import backup_row
from tests.support.files import write_dotenv, write_private
from tests.support.graphql import BlockingGraphQL
from tests.support.lumbung import LumbungServer
from tests.support.managed import ManagedServer
from tests.support.mariadb import MariaDBServer

NAME = "graphql_vs_bare"
GOAL = 0.5  # GraphQL throughput at least half the bare endpoint's
BACKUPS = 100
BARE_PATH = "/backups"  # bench/bare_endpoint.py's route
QUERY = (
    "query { backups(limit: 100) { total items { id filename backupType status fileSize "
    "fileSizeHuman createdAt completedAt description creator { id name email } "
    "restoreLogs { id status createdAt restorer { name } } } } }"
)
READY_TIMEOUT = 60.0
WRK_TIMEOUT = 30


# --------------------------------------------------------------------------- the database


async def build_catalog(url: str, jwt_secret: str) -> tuple[int, int]:
    """Catalog + demo tables with Lumbung's code, then 100 backups and their restore logs."""
    from server.db.demo import seed_demo_database
    from server.db.engine import create_engine, create_session_factory
    from server.db.migrate import migrate
    from server.db.models import RestoreLog
    from server.settings import Settings

    settings = Settings(
        _env_file=None, database_url=url, jwt_secret=jwt_secret, environment="development"
    )
    engine = create_engine(settings)
    try:
        await migrate(engine)
        await seed_demo_database(engine)
        sessions = create_session_factory(engine)
        async with sessions() as session:
            backups = []
            for n in range(BACKUPS):
                overrides: dict[str, Any] = {}
                if n % 10 == 9:  # a few failed ones: null completedAt
                    overrides = {
                        "status": "failed",
                        "completed_at": None,
                        "checksum": None,
                        "error_message": "mariadb-dump exited with code 2",
                    }
                if n % 7 == 3:
                    overrides["backup_type"] = "partial"
                if n % 25 == 24:  # a creator deleted since: creator is null
                    overrides["created_by"] = 4242
                backups.append(backup_row(n, **overrides))
            session.add_all(backups)
            await session.flush()
            logs = []
            for n, backup in enumerate(backups):
                if n % 3:
                    continue
                for k in range(2):  # ~2 restore logs for every 3rd backup
                    started = backup.created_at + timedelta(hours=1 + k)
                    failed = n % 9 == 0 and k == 1
                    logs.append(
                        RestoreLog(
                            backup_id=backup.id,
                            status="failed" if failed else "completed",
                            error_message="table is locked" if failed else None,
                            created_at=started,
                            completed_at=started + timedelta(seconds=9),
                            # 2 or 3; now and then a deleted user (restorer is null)
                            restored_by=4343 if n % 15 == 0 and k == 1 else 2 + k,
                            duration_ms=9000,
                        )
                    )
            session.add_all(logs)
            await session.commit()
            return len(backups), len(logs)
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- the baseline


class BareEndpoint(ManagedServer):
    """bench/bare_endpoint.py in `workdir` (which holds its 0600 .env), ready once its route
    answers the query."""

    kind = "bare endpoint"
    stop_timeout = 15.0

    def __init__(self, workdir: Path, body: bytes) -> None:
        super().__init__(workdir, owned=False)
        self._body = body

    def _command(self) -> list[str]:
        script = str(BENCH / "bare_endpoint.py")
        return [sys.executable, script, "--host", self.host, "--port", str(self.port)]

    def _wait_ready(self, start: float) -> None:
        self._poll_ready(start, READY_TIMEOUT, self._answers, what=f"200 from {BARE_PATH}")

    def _answers(self) -> bool:
        client = BlockingGraphQL(self.port, path=BARE_PATH, timeout=5)
        try:
            return client.post(self._body)[0] == 200
        except AssertionError:  # not listening yet
            return False
        finally:
            client.close()


# --------------------------------------------------------------------------- checking answers


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r:.80} != {type(b).__name__} {b!r:.80}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'GraphQL' if key in a else 'bare'}"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r:.80} != {b!r:.80}"


def verify_same_data(graphql_port: int, bare_port: int, body: bytes, token: str) -> dict[str, int]:
    """Fail loudly unless both answer the same backups, creators and restore logs."""
    status, raw = BlockingGraphQL(graphql_port, token).post(body)
    if status != 200:
        raise BenchmarkError(f"GraphQL answered {status}: {raw[:500]!r}")
    graphql = json.loads(raw)
    if graphql.get("errors"):
        raise BenchmarkError(f"GraphQL answered errors: {graphql['errors']}")
    status, raw = BlockingGraphQL(bare_port, token, path=BARE_PATH).post(body)
    if status != 200:
        raise BenchmarkError(f"the bare endpoint answered {status}: {raw[:500]!r}")
    bare = json.loads(raw)

    items = graphql["data"]["backups"]["items"]
    bare_items = bare["data"]["backups"]["items"]
    # The three things the issue names, compared explicitly (clear messages) ...
    checks = {
        "backup ids": ([i["id"] for i in items], [i["id"] for i in bare_items]),
        "creators": ([i["creator"] for i in items], [i["creator"] for i in bare_items]),
        "restore log ids": (
            [[log["id"] for log in i["restoreLogs"]] for i in items],
            [[log["id"] for log in i["restoreLogs"]] for i in bare_items],
        ),
    }
    for what, (ours, theirs) in checks.items():
        if ours != theirs:
            raise BenchmarkError(
                f"GraphQL and bare disagree on {what}: {first_difference(ours, theirs)}"
            )
    # ... then everything else, field by field.
    difference = first_difference(graphql, bare)
    if difference:
        raise BenchmarkError(f"GraphQL and bare answers differ at {difference}")
    logs = sum(len(i["restoreLogs"]) for i in items)
    if len(items) != BACKUPS or logs == 0:
        raise BenchmarkError(
            f"expected {BACKUPS} backups with restore logs, got {len(items)} / {logs}"
        )
    return {
        "backups": len(items),
        "restore_logs": logs,
        "graphql_bytes": len(json.dumps(graphql)),
        "bare_bytes": len(raw),
    }


# --------------------------------------------------------------------------- wrk


WRK_LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"

-- Count answers that carry GraphQL errors (they come with status 200).
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  body_errors = 0
end
function response(status, headers, body)
  if string.find(body, '"errors"', 1, true) then
    body_errors = body_errors + 1
  end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do
    n = n + t:get("body_errors")
  end
  io.write(string.format("Body errors: %d\\n", n))
end
"""

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def to_ms(value: str, unit: str) -> float:
    return float(value) * _UNIT_MS[unit]


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


def parse_wrk(output: str) -> WrkResult:
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise BenchmarkError(f"could not find {pattern!r} in wrk's output:\n{output}")
        return match

    problems = []
    if match := re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output):
        problems.append(f"{match.group(1)} non-2xx/3xx responses")
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        problems.append(f"socket errors ({match.group(0)})")
    body_errors = int(find(r"^Body errors: (\d+)").group(1))
    if body_errors:
        problems.append(f"{body_errors} answers with GraphQL errors")
    requests = int(find(r"^\s*(\d+) requests in").group(1))
    if requests == 0:
        problems.append("no request completed")
    if problems:
        raise BenchmarkError("wrk reported " + "; ".join(problems) + f":\n{output}")
    p50 = find(rf"^\s*50%\s+{_TIME}")
    p99 = find(rf"^\s*99%\s+{_TIME}")
    return WrkResult(
        rps=float(find(r"^Requests/sec:\s*([\d.]+)").group(1)),
        p50_ms=to_ms(p50.group(1), p50.group(2)),
        p99_ms=to_ms(p99.group(1), p99.group(2)),
        requests=requests,
    )


@dataclass
class Target:
    label: str
    server: ManagedServer
    url: str
    script: Path


@dataclass
class Run:
    label: str
    index: int  # 0 is the warm-up
    wrk: WrkResult
    rss_mib: float
    server_cpu: float  # percent of one core, over the run
    wrk_cpu: float


def run_wrk(target: Target, index: int, duration: int, connections: int) -> Run:
    target.server.check_alive()
    assert target.server.pid is not None
    process = psutil.Process(target.server.pid)
    server_before = process.cpu_times()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(
        [
            *die_with_parent(),
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            # wrk's default of 2 s would drop slow answers from the latency figures (as
            # "timeouts"): a saturated server may take that long and must still be measured.
            f"--timeout={WRK_TIMEOUT}s",
            "--latency",
            "-s",
            str(target.script),
            target.url,
        ],
        capture_output=True,
        check=False,
        timeout=duration + WRK_TIMEOUT + 60,
    )
    elapsed = time.monotonic() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_after = process.cpu_times()
    output = result.stdout.decode(errors="replace")
    if result.returncode != 0:
        raise BenchmarkError(
            f"wrk exited with code {result.returncode}: {result.stderr.decode(errors='replace')}"
            f"\n{output}"
        )
    target.server.check_alive()
    parsed = parse_wrk(output)
    server_cpu = (server_after.user + server_after.system) - (
        server_before.user + server_before.system
    )
    wrk_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    return Run(
        label=target.label,
        index=index,
        wrk=parsed,
        rss_mib=process.memory_info().rss / 2**20,
        server_cpu=100 * server_cpu / elapsed,
        wrk_cpu=100 * wrk_cpu / elapsed,
    )


# --------------------------------------------------------------------------- the result


@dataclass
class Summary:
    label: str
    runs: list[Run] = field(default_factory=list)

    def medians(self) -> dict[str, Any]:
        return {
            "target": self.label,
            "rps": median([r.wrk.rps for r in self.runs]),
            "p50_ms": median([r.wrk.p50_ms for r in self.runs]),
            "p99_ms": median([r.wrk.p99_ms for r in self.runs]),
            "server_cpu_pct": median([r.server_cpu for r in self.runs]),
            "rss_mib": median([r.rss_mib for r in self.runs]),
            "rss_max_mib": max(r.rss_mib for r in self.runs),
        }


def versions(mariadb: str) -> str:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, check=False).stdout.decode()
    wrk_version = wrk.split(" [", 1)[0].removeprefix("wrk ").strip() or "?"
    packages = ", ".join(
        f"{name} {package_version(name)}"
        for name in (
            "graphql-core",
            "starlette",
            "uvicorn",
            "uvloop",
            "httptools",
            "SQLAlchemy",
            "aiomysql",
        )
    )
    return (
        f"MariaDB {mariadb}, Python {platform.python_version()}, "
        f"strawberry-graphql {package_version('strawberry-graphql')}; {packages}; "
        f"wrk {wrk_version}"
    )


def result(
    args: argparse.Namespace,
    graphql: Summary,
    bare: Summary,
    all_runs: Sequence[Run],
    sizes: dict[str, int],
    found: dict[str, str],
) -> dict[str, Any]:
    throughput = compare([r.wrk.rps for r in bare.runs], [r.wrk.rps for r in graphql.runs])
    p99 = compare([r.wrk.p99_ms for r in bare.runs], [r.wrk.p99_ms for r in graphql.runs])
    return {
        "benchmark": NAME,
        **found,
        "load": {
            "runs": args.runs,
            "connections": args.connections,
            "duration_s": args.duration,
            "wrk_timeout_s": WRK_TIMEOUT,
            "warmup_s": args.warmup,
        },
        "data": sizes,
        "goal": GOAL,
        "runs": [
            {
                "run": r.index,
                "target": r.label,
                "rps": r.wrk.rps,
                "p50_ms": r.wrk.p50_ms,
                "p99_ms": r.wrk.p99_ms,
                "requests": r.wrk.requests,
                "server_cpu_pct": r.server_cpu,
                "wrk_cpu_pct": r.wrk_cpu,
                "rss_mib": r.rss_mib,
            }
            for r in all_runs
        ],
        "medians": [graphql.medians(), bare.medians()],
        "throughput": throughput.as_data(),
        "p99_ratio": p99.ratio,
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="GraphQL backups(limit: 100) vs a bare Starlette endpoint, side by side.",
    )
    parser.add_argument("--runs", type=int, default=5, help="measured runs per target (default 5)")
    parser.add_argument("--duration", type=int, default=12, help="seconds per run (default 12)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument(
        "--warmup", type=int, default=3, help="seconds of unrecorded warm-up per target (default 3)"
    )
    result_options(parser, quick="1 run of 1 s per target, 1 s warm-up")
    parser.add_argument(
        "--keep-running",
        type=int,
        default=0,
        metavar="S",
        help="after measuring, keep the servers up S seconds (to attach a profiler)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.warmup, args.no_write = 1, 1, 1, True
    elif args.runs < 3:
        parser.error("--runs must be at least 3: medians of fewer runs say little")
    if args.duration < 1 or args.connections < 1 or args.warmup < 1:
        parser.error("--duration, --connections and --warmup must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise BenchmarkError("wrk is not installed (apt-get install wrk)")
    ensure_binaries()
    found = facts()
    tmp = Path(tempfile.mkdtemp(prefix="lumbung-bench-"))
    db: MariaDBServer | None = None
    servers: list[ManagedServer] = []
    try:
        log("starting MariaDB ...")
        db = MariaDBServer().start()
        url = db.create_database("lumbung_bench")
        mariadb_version = db.root_sql("SELECT VERSION();").strip()
        jwt_secret = secrets.token_urlsafe(48)
        backups, logs = asyncio.run(build_catalog(url, jwt_secret))
        log(f"catalog built: {backups} backups, {logs} restore logs")

        body = json.dumps({"query": QUERY})
        for name in ("lumbung", "bare"):
            (tmp / name).mkdir(mode=0o700)
        write_dotenv(
            tmp / "lumbung",
            {
                "LUMBUNG_DATABASE_URL": url,
                "LUMBUNG_JWT_SECRET": jwt_secret,
                "LUMBUNG_DATA_DIR": str(tmp / "lumbung" / "data"),
                "LUMBUNG_BACKUP_DIR": str(tmp / "lumbung" / "backups"),
                "LUMBUNG_ENVIRONMENT": "production",
                "LUMBUNG_LOG_LEVEL": "WARNING",
            },
        )
        write_dotenv(tmp / "bare", {"LUMBUNG_DATABASE_URL": url})
        lumbung = LumbungServer(tmp / "lumbung")
        bare = BareEndpoint(tmp / "bare", body.encode())
        servers += [lumbung, bare]
        for server in servers:
            server.start()
        planned = (args.warmup + args.runs * args.duration) * 2
        ttl = max(60, 2 * planned // 60 + 10 + args.keep_running // 60)
        token = lumbung.run_cli("token", "--sub", "1", "--ttl", f"{ttl}m")
        log(
            f"servers up: GraphQL pid {lumbung.pid} port {lumbung.port}, "
            f"bare pid {bare.pid} port {bare.port}"
        )

        sizes = verify_same_data(lumbung.port, bare.port, body.encode(), token)
        log(
            f"same data from both: {sizes['backups']} backups, {sizes['restore_logs']} restore logs"
        )

        script_dir = tmp / "wrk"
        script_dir.mkdir(mode=0o700)
        script = script_dir / "post.lua"
        write_private(script, WRK_LUA.format(body=body, token=token))
        targets = [
            Target("GraphQL", lumbung, f"{lumbung.base}/graphql", script),
            Target("bare", bare, f"http://{bare.host}:{bare.port}{BARE_PATH}", script),
        ]
        summaries = {t.label: Summary(t.label) for t in targets}
        all_runs: list[Run] = []
        for target in targets:
            log(f"warm-up: {target.label} {args.warmup} s")
            all_runs.append(run_wrk(target, 0, args.warmup, args.connections))
        for index in range(1, args.runs + 1):
            for target in targets:  # A, B, A, B, ...
                measured = run_wrk(target, index, args.duration, args.connections)
                all_runs.append(measured)
                summaries[target.label].runs.append(measured)
                log(
                    f"run {index}/{args.runs} {target.label:<8} {measured.wrk.rps:9.1f} req/s  "
                    f"p99 {measured.wrk.p99_ms:7.2f} ms  server CPU {measured.server_cpu:3.0f}%  "
                    f"RSS {measured.rss_mib:.1f} MiB"
                )
        # Checked again after the load: the answers must not have drifted apart.
        verify_same_data(lumbung.port, bare.port, body.encode(), token)

        found["versions"] = versions(mariadb_version)
        data = result(args, summaries["GraphQL"], summaries["bare"], all_runs, sizes, found)
        publish(NAME, data, write=not args.no_write)
        if args.keep_running:
            log(
                f"keeping the servers up {args.keep_running} s (GraphQL pid {lumbung.pid}, "
                f"bare pid {bare.pid}; wrk script {script})"
            )
            time.sleep(args.keep_running)
        return 0
    finally:
        for server in reversed(servers):
            server.cleanup()
        if db is not None:
            db.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run(main)
