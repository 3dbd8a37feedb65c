"""The section of bench/cache_clear.py."""

from __future__ import annotations

from typing import Any

from bench.report.facts import fact_lines

TITLE = "## Cache clearing (1M Redis keys)"


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def render(data: dict[str, Any]) -> str:
    time = data["time"]
    ratio = time["ratio"]
    interval = ""
    if time.get("interval"):
        low, high = time["interval"]
        interval = f", 95% interval {low:.2f}-{high:.2f}x"
    worst, worst_p99 = data["worst_probe_ms"], data["worst_probe_p99_ms"]
    redis_worst = data["redis_worst_ms"]
    lines = [
        TITLE,
        "",
        f"Clearing {data['keys']:,} keys under `cache:` (plus {data['outside_keys']:,} keys "
        "outside it, which must survive) from a private Redis on 127.0.0.1: Lumbung's REDIS "
        "clear (`CacheService.clear`, SCAN COUNT 1000 + UNLINK batches pipelined with the next "
        "SCAN, CacheLog written) beside `redis-cli --scan | xargs redis-cli unlink`. A probe "
        f"process PINGs Redis on its own connection every {data['probe_interval_ms']:g} ms "
        "during each clear.",
        "",
        *fact_lines(data),
        f"- Baseline: `{data['baseline']}`",
        f"- Runs: {data['runs_per_target']} per target, interleaved Lumbung, redis-cli, "
        "Lumbung, ...; the keys are written again (`redis-cli --pipe`) before each clear, "
        "outside the timing.",
        "",
        "### Per run",
        "",
        "| run | target | seconds | probe max ms | probe p99 ms | probe p50 ms | pings "
        "| Redis worst event ms | load avg |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r['run']} | {r['target']} | {r['seconds']:.2f} | {r['probe_max_ms']:.2f} | "
            f"{r['probe_p99_ms']:.2f} | {r['probe_p50_ms']:.2f} | {r['pings']} | "
            f"{r['redis_worst_ms']} | {r['load']:.2f} |"
            for r in data["runs"]
        ),
        "",
        "### Medians and ratio",
        "",
        "| target | median seconds | keys/s | worst probe max ms | worst probe p99 ms |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {m['target']} | {m['seconds']:.2f} | {m['keys_per_s']:,.0f} "
            f"| {m['worst_probe_max_ms']:.2f} | {m['worst_probe_p99_ms']:.2f} |"
            for m in data["medians"]
        ),
        "",
        f"- Time ratio (Lumbung median ÷ redis-cli median): **{ratio:.2f}x**{interval} "
        f"(per-pair ratios: {', '.join(f'{p:.2f}' for p in time['pair_ratios'])}); "
        f"target <= {data['target_ratio']:.1f}x: **{_met(ratio <= data['target_ratio'])}**.",
        f"- Worst probe latency during Lumbung's clears: **{worst:.2f} ms** (p99 "
        f"{worst_p99:.2f} ms); target: none above {data['target_latency_ms']:.0f} ms: "
        f"**{_met(worst <= data['target_latency_ms'])}**.",
        "- Redis's own latency monitor (`LATENCY LATEST`, threshold 1 ms) saw at worst "
        f"**{redis_worst['Lumbung']} ms** in one event during Lumbung's clears "
        f"({redis_worst['redis-cli']} ms during redis-cli's).",
        "- Every run left the keys outside the prefix in place (checked with DBSIZE).",
        "",
        "The probe runs in its own process (at nice -10) on the same 2-CPU machine as Redis and "
        "the clearer, so its figures include the scheduler's delays as well as Redis's: the load "
        "average column shows how busy the machine was. Redis's latency monitor is its own "
        "measure of how long it was busy with one event, free of that noise.",
    ]
    return "\n".join(lines) + "\n"
