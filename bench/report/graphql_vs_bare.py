"""The section of bench/graphql_vs_bare.py."""

from __future__ import annotations

from typing import Any

from bench.report.facts import fact_lines

TITLE = "## GraphQL list vs bare Starlette endpoint"


def _ratio(comparison: dict[str, Any]) -> str:
    """`**0.59x**`, with its 95% interval when the result has one."""
    text = f"**{comparison['ratio']:.2f}x**"
    if comparison.get("interval"):
        low, high = comparison["interval"]
        text += f", 95% interval {low:.2f}-{high:.2f}x"
    return text


def render(data: dict[str, Any]) -> str:
    load, sizes = data["load"], data["data"]
    throughput = data["throughput"]
    ratio, goal = throughput["ratio"], data["goal"]
    verdict = (
        f"**Goal met**: GraphQL serves {ratio:.2f}x the bare endpoint's throughput "
        f"(goal: at least {goal}x)."
        if ratio >= goal
        else f"**Goal not met**: GraphQL serves only {ratio:.2f}x the bare endpoint's throughput "
        f"(goal: at least {goal}x)."
    )
    lines = [
        TITLE,
        "",
        "`backups(limit: 100)` with nested `creator` and `restoreLogs { restorer }` "
        "through Lumbung (`lumbung serve`, production settings) beside "
        "bench/bare_endpoint.py, a bare Starlette route reading the same rows with "
        "SQLAlchemy (same ORM models, same engine options) and answering the same JSON; "
        "both checked to return identical data before measuring. Each: one uvicorn worker; "
        "load from `wrk -t1` over keep-alive connections.",
        "",
        *fact_lines(data),
        f"- Load: {load['runs']} runs per target of `wrk -t1 -c{load['connections']} "
        f"-d{load['duration_s']}s --timeout={load['wrk_timeout_s']}s --latency`, interleaved "
        "GraphQL, bare, GraphQL, bare, ...; "
        f"one unrecorded {load['warmup_s']} s warm-up run each first (run 0 below).",
        f"- Data: {sizes['backups']} backups (all on the page; `total` counted too), "
        f"{sizes['restore_logs']} restore logs on them; answer size {sizes['graphql_bytes']} B "
        f"(GraphQL) / {sizes['bare_bytes']} B (bare, compact separators).",
        "",
        "### Per run",
        "",
        "| run | target | req/s | p50 ms | p99 ms | requests "
        "| server CPU % | wrk CPU % | server RSS MiB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r['run']} | {r['target']} | {r['rps']:.1f} | {r['p50_ms']:.2f} "
            f"| {r['p99_ms']:.2f} | {r['requests']} | {r['server_cpu_pct']:.0f} "
            f"| {r['wrk_cpu_pct']:.0f} | {r['rss_mib']:.1f} |"
            for r in data["runs"]
        ),
        "",
        "### Medians and ratios",
        "",
        "| target | median req/s | median p50 ms | median p99 ms | median server CPU % "
        "| server RSS MiB (median / max) |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {m['target']} | {m['rps']:.1f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} "
            f"| {m['server_cpu_pct']:.0f} | {m['rss_mib']:.1f} / {m['rss_max_mib']:.1f} |"
            for m in data["medians"]
        ),
        "",
        f"- Throughput ratio (GraphQL median req/s ÷ bare median req/s): {_ratio(throughput)}"
        f" (per-pair ratios: {', '.join(f'{p:.2f}' for p in throughput['pair_ratios'])})",
        f"- p99 ratio (GraphQL median p99 ÷ bare median p99): **{data['p99_ratio']:.2f}x**",
        "",
        verdict,
        "",
        "wrk is closed-loop (each connection waits for its answer), so latencies are those at "
        "each server's own saturation point, not at a fixed offered rate.",
    ]
    return "\n".join(lines) + "\n"
