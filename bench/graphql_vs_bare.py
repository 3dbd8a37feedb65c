"""GraphQL `backups(limit: 100)` against a bare Starlette JSON endpoint, side by side.

Starts a private MariaDB (tests.servers.MariaDBServer), builds Lumbung's catalog and demo data
with Lumbung's own code, adds 100 backups and restore logs, then starts two real servers:

* Lumbung: `lumbung serve` (production settings, one uvicorn worker, log level WARNING);
* the baseline: bench/bare_endpoint.py (one uvicorn worker, no access log), which reads the
  same rows with SQLAlchemy and answers the same JSON without GraphQL.

It checks that both answer the same data, then loads each with `wrk` (one thread, so the other
core is left to the server), interleaving the targets run by run (GraphQL, bare, GraphQL,
bare, ...) after one unrecorded warm-up run each. It reports requests/s and p99 latency per run,
their medians, and the ratios of the medians, and writes its section of bench/RESULTS.md.

    /tmp/venv/bin/python bench/graphql_vs_bare.py [--runs 5] [--duration 10] [--connections 16]

Everything it starts (MariaDB, both servers, wrk) and every temp dir goes away at the end,
also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import platform
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
from harness import (  # bench/harness.py: the script's own folder is on sys.path
    BENCH,
    HOST,
    REPO,
    RESULTS,
    BenchmarkError,
    child_env,
    command_line,
    die_with_parent,
    free_port,
    interrupts_on_termination,
    log,
    machine,
    source_state,
    tail,
    write_dotenv,
    write_private,
    write_results,
)

SECTION = "## GraphQL list vs bare Starlette endpoint"

sys.path.insert(0, str(REPO))  # tests.servers and tests.factories live in the repo, not the venv

from tests.support.binaries import ensure_binaries  # noqa: E402
from tests.support.factories import backup_row  # noqa: E402
from tests.support.mariadb import MariaDBServer  # noqa: E402

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
STOP_TIMEOUT = 15.0


# --------------------------------------------------------------------------- small helpers


def post_json(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(
            "POST", path, body=body, headers={"Content-Type": "application/json", **headers}
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def get_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


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


# --------------------------------------------------------------------------- child servers


@dataclass
class Server:
    """A server process we started, in its own working dir (which holds its 0600 .env)."""

    name: str
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "output.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, argv: Sequence[str]) -> None:
        with self.log_path.open("ab") as output:
            self.proc = subprocess.Popen(
                [*die_with_parent(), *argv],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=child_env(),
                close_fds=True,
                # Own session: a Ctrl-C reaches us, and we stop the child in order.
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise BenchmarkError(
                f"{self.name} server exited (code {code})\n--- {self.log_path} ---\n"
                f"{tail(self.log_path)}"
            )

    def wait_ready(self, probe: Any) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError, http.client.HTTPException):
                if probe():
                    return
            time.sleep(0.1)
        raise BenchmarkError(
            f"{self.name} server did not answer within {READY_TIMEOUT:.0f} s\n"
            f"--- {self.log_path} ---\n{tail(self.log_path)}"
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()


def lumbung_binary() -> str:
    beside = Path(sys.executable).with_name("lumbung")
    found = str(beside) if beside.exists() else shutil.which("lumbung")
    if found is None:
        raise BenchmarkError("`lumbung` is not installed: pip install -e . in the venv first")
    return found


def mint_token(server: Server, ttl_minutes: int) -> str:
    result = subprocess.run(
        [lumbung_binary(), "token", "--sub", "1", "--ttl", f"{ttl_minutes}m"],
        cwd=server.workdir,
        env=child_env(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise BenchmarkError(f"lumbung token failed: {result.stderr.decode(errors='replace')}")
    token = result.stdout.decode().strip()
    if not token or len(token.split()) != 1:
        raise BenchmarkError("lumbung token printed no token")
    return token


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
    status, raw = post_json(graphql_port, "/graphql", body, {"Authorization": f"Bearer {token}"})
    if status != 200:
        raise BenchmarkError(f"GraphQL answered {status}: {raw[:500]!r}")
    graphql = json.loads(raw)
    if graphql.get("errors"):
        raise BenchmarkError(f"GraphQL answered errors: {graphql['errors']}")
    status, raw = post_json(bare_port, BARE_PATH, body, {"Authorization": f"Bearer {token}"})
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
    server: Server
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


# --------------------------------------------------------------------------- the report


@dataclass
class Summary:
    label: str
    runs: list[Run] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.wrk.rps for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.wrk.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.wrk.p99_ms for r in self.runs)

    @property
    def rss(self) -> float:
        return statistics.median(r.rss_mib for r in self.runs)

    @property
    def rss_max(self) -> float:
        return max(r.rss_mib for r in self.runs)

    @property
    def server_cpu(self) -> float:
        return statistics.median(r.server_cpu for r in self.runs)

    @property
    def wrk_cpu(self) -> float:
        return statistics.median(r.wrk_cpu for r in self.runs)


def run_rows(runs: Sequence[Run]) -> list[str]:
    rows = [
        "| run | target | req/s | p50 ms | p99 ms | requests "
        "| server CPU % | wrk CPU % | server RSS MiB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        rows.append(
            f"| {r.index} | {r.label} | {r.wrk.rps:.1f} | {r.wrk.p50_ms:.2f} | {r.wrk.p99_ms:.2f} "
            f"| {r.wrk.requests} | {r.server_cpu:.0f} | {r.wrk_cpu:.0f} | {r.rss_mib:.1f} |"
        )
    return rows


def summary_rows(graphql: Summary, bare: Summary) -> list[str]:
    rows = [
        "| target | median req/s | median p50 ms | median p99 ms | median server CPU % "
        "| server RSS MiB (median / max) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in (graphql, bare):
        rows.append(
            f"| {s.label} | {s.rps:.1f} | {s.p50:.2f} | {s.p99:.2f} | {s.server_cpu:.0f} "
            f"| {s.rss:.1f} / {s.rss_max:.1f} |"
        )
    return rows


def pair_ratios(graphql: Summary, bare: Summary) -> list[float]:
    return [g.wrk.rps / b.wrk.rps for g, b in zip(graphql.runs, bare.runs, strict=True)]


def versions(mariadb: str) -> str:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    wrk = subprocess.run(["wrk", "-v"], capture_output=True, check=False).stdout.decode()
    wrk_version = wrk.split(" [", 1)[0].removeprefix("wrk ").strip() or "?"
    packages = ", ".join(
        f"{name} {version(name)}"
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
        f"strawberry-graphql {version('strawberry-graphql')}; {packages}; wrk {wrk_version}"
    )


def render_section(
    args: argparse.Namespace,
    graphql: Summary,
    bare: Summary,
    all_runs: Sequence[Run],
    facts: dict[str, Any],
) -> str:
    ratio = graphql.rps / bare.rps
    p99_ratio = graphql.p99 / bare.p99
    pairs = pair_ratios(graphql, bare)
    verdict = (
        f"**Goal met**: GraphQL serves {ratio:.2f}x the bare endpoint's throughput "
        f"(goal: at least {GOAL}x)."
        if ratio >= GOAL
        else f"**Goal not met**: GraphQL serves only {ratio:.2f}x the bare endpoint's throughput "
        f"(goal: at least {GOAL}x)."
    )
    lines = [
        SECTION,
        "",
        "`backups(limit: 100)` with nested `creator` and `restoreLogs { restorer }` "
        "through Lumbung (`lumbung serve`, production settings) beside "
        "bench/bare_endpoint.py, a bare Starlette route reading the same rows with "
        "SQLAlchemy (same ORM models, same engine options) and answering the same JSON; "
        "both checked to return identical data before measuring. Each: one uvicorn worker; "
        "load from `wrk -t1` over keep-alive connections.",
        "",
        f"- Date: {facts['date']}",
        f"- Machine: {machine()}",
        f"- Versions: {facts['versions']}",
        f"- Source: {facts['source']}",
        f"- Command: `{facts['command']}`",
        f"- Load: {args.runs} runs per target of `wrk -t1 -c{args.connections} -d{args.duration}s "
        f"--timeout={WRK_TIMEOUT}s --latency`, interleaved GraphQL, bare, GraphQL, bare, ...; "
        f"one unrecorded {args.warmup} s warm-up run each first (run 0 below).",
        f"- Data: {facts['backups']} backups (all on the page; `total` counted too), "
        f"{facts['restore_logs']} restore logs on them; answer size {facts['graphql_bytes']} B "
        f"(GraphQL) / {facts['bare_bytes']} B (bare, compact separators).",
        "",
        "### Per run",
        "",
        *run_rows(all_runs),
        "",
        "### Medians and ratios",
        "",
        *summary_rows(graphql, bare),
        "",
        f"- Throughput ratio (GraphQL median req/s ÷ bare median req/s): **{ratio:.2f}x**"
        f" (per-pair ratios: {', '.join(f'{p:.2f}' for p in pairs)})",
        f"- p99 ratio (GraphQL median p99 ÷ bare median p99): **{p99_ratio:.2f}x**",
        "",
        verdict,
        "",
        "wrk is closed-loop (each connection waits for its answer), so latencies are those at "
        "each server's own saturation point, not at a fixed offered rate.",
        "",
    ]
    return "\n".join(lines)


def print_report(graphql: Summary, bare: Summary, all_runs: Sequence[Run]) -> None:
    ratio = graphql.rps / bare.rps
    print()
    print("\n".join(run_rows(all_runs)))
    print()
    print("\n".join(summary_rows(graphql, bare)))
    print()
    print(
        f"throughput ratio GraphQL/bare (ratio of medians): {ratio:.2f}x  (goal >= {GOAL}x: "
        f"{'met' if ratio >= GOAL else 'NOT met'})"
    )
    print(f"per-pair ratios: {', '.join(f'{p:.2f}' for p in pair_ratios(graphql, bare))}")
    print(f"p99 ratio GraphQL/bare: {graphql.p99 / bare.p99:.2f}x")


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
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone"
    )
    parser.add_argument(
        "--keep-running",
        type=int,
        default=0,
        metavar="S",
        help="after measuring, keep the servers up S seconds (to attach a profiler)",
    )
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3: medians of fewer runs say little")
    if args.duration < 1 or args.connections < 1 or args.warmup < 1:
        parser.error("--duration, --connections and --warmup must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise BenchmarkError("wrk is not installed (apt-get install wrk)")
    ensure_binaries()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = command_line()
    tmp = Path(tempfile.mkdtemp(prefix="lumbung-bench-"))
    db: MariaDBServer | None = None
    servers: list[Server] = []
    try:
        with interrupts_on_termination():
            log("starting MariaDB ...")
            db = MariaDBServer()
            db.start()
            url = db.create_database("lumbung_bench")
            mariadb_version = db.root_sql("SELECT VERSION();").strip()
            jwt_secret = secrets.token_urlsafe(48)
            backups, logs = asyncio.run(build_catalog(url, jwt_secret))
            log(f"catalog built: {backups} backups, {logs} restore logs")

            lumbung = Server("Lumbung GraphQL", free_port(), tmp / "lumbung")
            bare = Server("bare Starlette", free_port(), tmp / "bare")
            servers += [lumbung, bare]
            for server in servers:
                server.workdir.mkdir(mode=0o700)
            write_dotenv(
                lumbung.workdir,
                {
                    "LUMBUNG_DATABASE_URL": url,
                    "LUMBUNG_JWT_SECRET": jwt_secret,
                    "LUMBUNG_DATA_DIR": str(lumbung.workdir / "data"),
                    "LUMBUNG_BACKUP_DIR": str(lumbung.workdir / "backups"),
                    "LUMBUNG_ENVIRONMENT": "production",
                    "LUMBUNG_LOG_LEVEL": "WARNING",
                },
            )
            write_dotenv(bare.workdir, {"LUMBUNG_DATABASE_URL": url})
            lumbung.start([lumbung_binary(), "serve", "--host", HOST, "--port", str(lumbung.port)])
            bare.start(
                [
                    sys.executable,
                    str(BENCH / "bare_endpoint.py"),
                    "--host",
                    HOST,
                    "--port",
                    str(bare.port),
                ]
            )

            planned = (args.warmup + args.runs * args.duration) * 2
            token = mint_token(
                lumbung, ttl_minutes=max(60, 2 * planned // 60 + 10 + args.keep_running // 60)
            )
            body = json.dumps({"query": QUERY})
            lumbung.wait_ready(lambda: get_status(lumbung.port, "/healthz") == 200)
            bare.wait_ready(lambda: post_json(bare.port, BARE_PATH, body.encode(), {})[0] == 200)
            log(
                f"servers up: GraphQL pid {lumbung.pid} port {lumbung.port}, "
                f"bare pid {bare.pid} port {bare.port}"
            )

            facts: dict[str, Any] = verify_same_data(lumbung.port, bare.port, body.encode(), token)
            log(
                f"same data from both: {facts['backups']} backups, "
                f"{facts['restore_logs']} restore logs"
            )

            script_dir = tmp / "wrk"
            script_dir.mkdir(mode=0o700)
            script = script_dir / "post.lua"
            write_private(script, WRK_LUA.format(body=body, token=token))
            targets = [
                Target("GraphQL", lumbung, f"http://{HOST}:{lumbung.port}/graphql", script),
                Target("bare", bare, f"http://{HOST}:{bare.port}{BARE_PATH}", script),
            ]
            summaries = {t.label: Summary(t.label) for t in targets}
            all_runs: list[Run] = []
            for target in targets:
                log(f"warm-up: {target.label} {args.warmup} s")
                all_runs.append(run_wrk(target, 0, args.warmup, args.connections))
            for index in range(1, args.runs + 1):
                for target in targets:  # A, B, A, B, ...
                    run = run_wrk(target, index, args.duration, args.connections)
                    all_runs.append(run)
                    summaries[target.label].runs.append(run)
                    log(
                        f"run {index}/{args.runs} {target.label:<8} {run.wrk.rps:9.1f} req/s  "
                        f"p99 {run.wrk.p99_ms:7.2f} ms  server CPU {run.server_cpu:3.0f}%  "
                        f"RSS {run.rss_mib:.1f} MiB"
                    )
            # Checked again after the load: the answers must not have drifted apart.
            verify_same_data(lumbung.port, bare.port, body.encode(), token)

            graphql_summary, bare_summary = summaries["GraphQL"], summaries["bare"]
            print_report(graphql_summary, bare_summary, all_runs)
            facts.update(
                date=date,
                versions=versions(mariadb_version),
                source=source_state(),
                command=command,
            )
            if not args.no_write:
                write_results(
                    render_section(args, graphql_summary, bare_summary, all_runs, facts), SECTION
                )
                log(f"wrote the section '{SECTION[3:]}' of {RESULTS.relative_to(REPO)}")
            if args.keep_running:
                log(
                    f"keeping the servers up {args.keep_running} s (GraphQL pid {lumbung.pid}, "
                    f"bare pid {bare.pid}; wrk script {script})"
                )
                time.sleep(args.keep_running)
            return 0
    finally:
        for server in reversed(servers):
            with contextlib.suppress(Exception):
                server.stop()
        if db is not None:
            with contextlib.suppress(Exception):
                db.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as exc:
        log(f"benchmark failed: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted; servers stopped and temp dirs removed")
        sys.exit(130)
