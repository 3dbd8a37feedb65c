"""Clearing 1,000,000 prefixed Redis keys: Lumbung's REDIS clear beside the redis-cli pipeline.

Starts a private Redis (tests.support.redis.RedisServer), then, run by run and interleaved
(Lumbung, redis-cli, Lumbung, redis-cli, ...), fills it with 1,000,000 `cache:` keys plus 10,000
keys outside the prefix, and clears the prefix with one of:

* Lumbung: `CacheService.clear(REDIS)` (SCAN + pipelined UNLINK, CacheLog written), built by
  the same `open_resources` the server's lifespan uses, on a SQLite catalog;
* the baseline: `redis-cli --scan --pattern 'cache:*' | xargs -n 1000 redis-cli unlink`.

During each clear a probe in a separate process sends PING on its own connection every 5 ms
and records each round trip: the worst and the 99th percentile are what other clients of
Redis would have felt. After each clear the keys outside the prefix must all still be there.
It reports per-run times, medians, the ratio of the medians (with its 95% interval) and the
probe figures, and writes bench/results/cache_clear.json (then bench/RESULTS.md).

    .venv/bin/python -m bench.cache_clear [--runs 3] [--keys 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import (
    REPO,
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
from tests.support.redis import RedisServer

NAME = "cache_clear"
OUTSIDE_KEYS = 10_000
PROBE_INTERVAL = 0.005
TARGET_RATIO = 1.0
TARGET_LATENCY_MS = 50.0


# --- the latency probe (a process of its own, so that no clearer's CPU delays it) ------------
def probe(host: str, port: int) -> None:
    """PING every 5 ms until SIGTERM; print the round trips' figures as JSON."""
    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with contextlib.suppress(OSError):
        os.nice(-10)  # as root: fewer scheduler delays mistaken for Redis's
    samples: list[float] = []
    with socket.create_connection((host, port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        print("ready", flush=True)
        while not stop:
            started = time.perf_counter()
            conn.sendall(b"PING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                reply += conn.recv(64)
            samples.append((time.perf_counter() - started) * 1000)
            time.sleep(PROBE_INTERVAL)
    samples.sort()
    print(
        json.dumps(
            {
                "count": len(samples),
                "max_ms": samples[-1] if samples else 0.0,
                "p99_ms": samples[int(len(samples) * 0.99)] if samples else 0.0,
                "p50_ms": samples[len(samples) // 2] if samples else 0.0,
            }
        ),
        flush=True,
    )


class Probe:
    def __init__(self, redis: RedisServer) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.cache_clear", "--probe", redis.host, str(redis.port)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise BenchmarkError("the probe process did not start")

    def stop(self) -> dict[str, float]:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        return figures


# --- filling and clearing -----------------------------------------------------------------------
def fill(redis: RedisServer, keys: int) -> None:
    """The keys through `redis-cli --pipe` in Redis's own protocol (the fastest way in)."""
    commands = bytearray()
    names = [f"cache:item:{n}" for n in range(keys)] + [
        f"other:item:{n}" for n in range(OUTSIDE_KEYS)
    ]
    for start in range(0, len(names), 1000):
        chunk = names[start : start + 1000]
        commands += b"*%d\r\n$4\r\nMSET\r\n" % (1 + 2 * len(chunk))
        for name in chunk:
            commands += b"$%d\r\n%s\r\n$1\r\nv\r\n" % (len(name), name.encode())
    subprocess.run(
        ["redis-cli", "-h", redis.host, "-p", str(redis.port), "--pipe"],
        input=bytes(commands),
        check=True,
        capture_output=True,
    )
    if (size := dbsize(redis)) != keys + OUTSIDE_KEYS:
        raise BenchmarkError(f"Redis holds {size} keys after the fill, not {keys + OUTSIDE_KEYS}")


def dbsize(redis: RedisServer) -> int:
    out = subprocess.run(
        ["redis-cli", "-h", redis.host, "-p", str(redis.port), "dbsize"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def baseline_command(redis: RedisServer) -> str:
    cli = f"redis-cli -h {redis.host} -p {redis.port}"
    return f"{cli} --scan --pattern 'cache:*' | xargs -n 1000 {cli} unlink > /dev/null"


def clear_with_redis_cli(redis: RedisServer) -> float:
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", baseline_command(redis)], check=True)
    return time.perf_counter() - started


async def clear_with_lumbung(caches: Any, keys: int) -> float:
    from server.cache.request import build_request
    from server.db.enums import CacheType

    started = time.perf_counter()
    outcome = await caches.clear(build_request(cache_type=CacheType.REDIS), actor_id=0)
    elapsed = time.perf_counter() - started
    if outcome.total_cleared != keys or outcome.failures:
        raise BenchmarkError(f"Lumbung's clear: {outcome.items}")
    return elapsed


@dataclass
class Run:
    number: int
    target: str
    seconds: float
    probe: dict[str, float]
    server_ms: int  # Redis's own latency monitor: its slowest event (0: none reached 1 ms)
    load: float  # the machine's 1-minute load average as the run started


class LatencyMonitor:
    """Redis's own view: LATENCY LATEST records events that took at least 1 ms in Redis."""

    def __init__(self, redis: RedisServer) -> None:
        from redis import Redis as SyncRedis

        self.client = SyncRedis(host=redis.host, port=redis.port)
        self.client.config_set("latency-monitor-threshold", 1)

    def reset(self) -> None:
        self.client.execute_command("LATENCY", "RESET")  # type: ignore[no-untyped-call]

    def worst_ms(self) -> int:
        events = self.client.execute_command("LATENCY", "LATEST")  # type: ignore[no-untyped-call]
        return max((int(event[3]) for event in events), default=0)


async def measure(redis: RedisServer, runs: int, keys: int, workdir: Path) -> list[Run]:
    from server.auth.keys import resolve_token_keys
    from server.resources import open_resources
    from server.settings import Settings

    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{workdir / 'catalog.db'}",
        data_dir=workdir / "data",
        backup_dir=workdir / "backups",
        jwt_secret="bench-secret-long-enough-for-hs256-0123456789",  # noqa: S106 - a throwaway
        redis_url=redis.url,
        log_level="WARNING",
    )
    resources = await open_resources(settings, resolve_token_keys(settings))
    results: list[Run] = []
    monitor = LatencyMonitor(redis)
    try:
        for number in range(1, runs + 1):
            for target in ("Lumbung", "redis-cli"):
                fill(redis, keys)
                load = os.getloadavg()[0]
                monitor.reset()
                probe_process = Probe(redis)
                if target == "Lumbung":
                    seconds = await clear_with_lumbung(resources.caches, keys)
                else:
                    seconds = clear_with_redis_cli(redis)
                figures = probe_process.stop()
                if (left := dbsize(redis)) != OUTSIDE_KEYS:
                    raise BenchmarkError(f"{target} left {left} keys (expected the outside ones)")
                server_ms = monitor.worst_ms()
                results.append(Run(number, target, seconds, figures, server_ms, load))
                log(
                    f"run {number} {target:9s} {seconds:6.2f} s  probe max "
                    f"{figures['max_ms']:.2f} ms p99 {figures['p99_ms']:.2f} ms  "
                    f"redis {server_ms} ms  load {load:.2f}"
                )
    finally:
        monitor.client.close()
        await resources.close()
    return results


# --- the result ----------------------------------------------------------------------------------
def versions() -> str:
    server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    cli = subprocess.run(["redis-cli", "--version"], capture_output=True, text=True).stdout
    found = re.search(r"v=(\S+)", server)
    hiredis = package_version("hiredis")
    parser = (
        f"hiredis {hiredis}" if hiredis != "?" else "hiredis not installed (pure-Python parser)"
    )
    return ", ".join(
        [
            f"Redis {found.group(1) if found else server.strip()}",
            cli.strip(),
            f"Python {platform.python_version()}",
            f"redis-py {package_version('redis')}",
            parser,
        ]
    )


def result(runs: list[Run], keys: int, redis: RedisServer, runs_per_target: int) -> dict[str, Any]:
    lumbung = [r for r in runs if r.target == "Lumbung"]
    cli = [r for r in runs if r.target == "redis-cli"]
    timing = compare([r.seconds for r in cli], [r.seconds for r in lumbung])
    medians = []
    for target, mine in (("Lumbung", lumbung), ("redis-cli", cli)):
        seconds = median([r.seconds for r in mine])
        medians.append(
            {
                "target": target,
                "seconds": seconds,
                "keys_per_s": keys / seconds,
                "worst_probe_max_ms": max(r.probe["max_ms"] for r in mine),
                "worst_probe_p99_ms": max(r.probe["p99_ms"] for r in mine),
            }
        )
    return {
        "benchmark": NAME,
        **facts(),
        "versions": versions(),
        "keys": keys,
        "outside_keys": OUTSIDE_KEYS,
        "probe_interval_ms": PROBE_INTERVAL * 1000,
        "baseline": baseline_command(redis).replace(str(redis.port), "PORT"),
        "runs_per_target": runs_per_target,
        "runs": [
            {
                "run": r.number,
                "target": r.target,
                "seconds": r.seconds,
                "probe_max_ms": r.probe["max_ms"],
                "probe_p99_ms": r.probe["p99_ms"],
                "probe_p50_ms": r.probe["p50_ms"],
                "pings": int(r.probe["count"]),
                "redis_worst_ms": r.server_ms,
                "load": r.load,
            }
            for r in runs
        ],
        "medians": medians,
        "time": timing.as_data(),
        "target_ratio": TARGET_RATIO,
        "worst_probe_ms": medians[0]["worst_probe_max_ms"],
        "worst_probe_p99_ms": medians[0]["worst_probe_p99_ms"],
        "target_latency_ms": TARGET_LATENCY_MS,
        "redis_worst_ms": {
            "Lumbung": max(r.server_ms for r in lumbung),
            "redis-cli": max(r.server_ms for r in cli),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--probe", nargs=2, metavar=("HOST", "PORT"), help=argparse.SUPPRESS)
    result_options(parser, quick="1 run of 10,000 keys")
    args = parser.parse_args()
    if args.probe:
        probe(args.probe[0], int(args.probe[1]))
        return 0
    if args.quick:
        args.runs, args.keys, args.no_write = 1, 10_000, True
    ensure_binaries()
    if shutil.which("redis-cli") is None:
        raise BenchmarkError("redis-cli is needed for the baseline (Debian package redis-tools)")
    workdir = Path(tempfile.mkdtemp(prefix="lb-bench-cache-"))
    redis = RedisServer().start()
    try:
        runs = asyncio.run(measure(redis, args.runs, args.keys, workdir))
        data = result(runs, args.keys, redis, args.runs)
    finally:
        redis.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    publish(NAME, data, write=not args.no_write)
    return 0


if __name__ == "__main__":
    run(main)
