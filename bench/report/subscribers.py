"""The section of bench/subscribers.py (one per worker count)."""

from __future__ import annotations

from typing import Any

from bench.report.facts import fact_lines

TITLE = "## Live progress: 1,000 websocket subscribers"


def title(workers: int) -> str:
    return TITLE if workers == 1 else f"{TITLE} ({workers} workers)"


def describe(scenario: dict[str, Any]) -> str:
    if not scenario["copies"]:
        return f"{scenario['head']} messages in `Message`"
    return (
        f"{scenario['head']} messages in `Message` (dumped first: a quiet head while the "
        f"subscribers connect), then {scenario['rows']} spread over {scenario['copies']} copies "
        "of it"
    )


def _run_rows(runs: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| scenario | run | subscribers | subscribed in s | window s | events | "
        "events/subscriber median (min-max) | messages | p50 ms | p95 ms | p99 ms | max ms "
        "| final received by | final fan-out ms | server CPU % | clients CPU % "
        "| RSS idle / subscribed / peak MiB | backup s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        rows.append(
            f"| {r['scenario']} | {r['run']} | {r['subscribers']} | {r['ramp_s']:.1f} "
            f"| {r['window_s']:.1f} | {r['published']} "
            f"| {r['events_median']:g} ({r['events_min']}-{r['events_max']}) "
            f"| {r['messages']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['max_ms']:.1f} | {r['final_received']}/{r['subscribers']} "
            f"| {r['final_fanout_ms']:.1f} | {r['server_cpu_pct']:.0f} "
            f"| {r['clients_cpu_pct']:.0f} | {r['rss_idle_mib']:.1f} / "
            f"{r['rss_subscribed_mib']:.1f} / {r['rss_peak_mib']:.1f} | {r['backup_s']:.1f} |"
        )
    return rows


def _median_rows(medians: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| scenario | subscribers | p50 ms | p95 ms | p99 ms | max ms | events/subscriber "
        "| messages | final fan-out ms | server CPU % | RSS idle MiB | RSS peak MiB "
        "| RSS per extra subscriber KiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in medians:
        per = "-" if m["per_subscriber_kib"] is None else f"{m['per_subscriber_kib']:.1f}"
        rows.append(
            f"| {m['scenario']} | {m['subscribers']} | {m['p50_ms']:.1f} "
            f"| {m['p95_ms']:.1f} | {m['p99_ms']:.1f} | {m['max_ms']:.1f} "
            f"| {m['events']:g} | {m['messages']:g} "
            f"| {m['final_fanout_ms']:.1f} | {m['server_cpu_pct']:.0f} "
            f"| {m['rss_idle_mib']:.1f} | {m['rss_peak_mib']:.1f} | {per} |"
        )
    return rows


def verdict(data: dict[str, Any]) -> str:
    target, n = data["target_p99_ms"], data["subscribers"]
    parts = []
    for scenario in data["scenarios"]:
        p99 = scenario["p99_ms"]
        ok = "met" if p99 <= target else "**not met**"
        parts.append(f"{scenario['name']}: median p99 {p99:.1f} ms, {ok}")
    met = all(s["p99_ms"] <= target for s in data["scenarios"])
    head = "**Target met**" if met else "**Target not met**"
    final = (
        "Every subscriber received the final event in every run."
        if data["every_final_received"]
        else "**Some subscribers missed the final event** (see the table)."
    )
    return (
        f"{head} (p99 <= {target:.0f} ms with {n} subscribers): " + "; ".join(parts) + f". {final}"
    )


def render(data: dict[str, Any]) -> str:
    n, workers, load = data["subscribers"], data["workers"], data["load"]
    compression = (
        "permessage-deflate offered, as browsers do; the server declines it, as it does "
        "by default (LUMBUNG_WS_COMPRESSION off)"
        if load["deflate"]
        else "no compression offered"
    )
    lines = [
        title(workers),
        "",
        f"{n} graphql-transport-ws subscribers to `backupProgress(id)` on one running FULL "
        "backup of the SQLite demo database (zstd level 19, one compression thread), against "
        f"one `lumbung serve --workers {workers}` (production settings, Redis fan-out "
        "on; subscribers spread over the workers by the kernel). "
        "Latency = receipt wall time at the client - the event's `emittedAt` (its publication "
        "time), counted only for events published after the last subscriber had its first "
        f"event. Runs alternate between 1 subscriber (the baseline) and {n}; each run starts "
        "a fresh server process.",
        "",
        *fact_lines(data),
        f"- Load: {load['runs']} runs per scenario and subscriber count; {n} subscribers from "
        f"{load['client_processes']} client processes (websockets {load['websockets']} on "
        f"uvloop, {compression}), connecting ~{load['batch']} at a time; selection "
        "`sequence status phase emittedAt`.",
        "- Scenarios (the SQLite engine reports progress when it starts a table, not within "
        "one, so the table layout sets the event rate):",
        *(
            f"  - **{s['name']}**: the demo database + {describe(s)} ({s['db_mib']:.1f} MiB "
            f"file); a FULL backup with nobody watching took {s['backup_s']:.1f} s."
            for s in data["scenarios"]
        ),
        "",
        "### Per run",
        "",
        *_run_rows(data["runs"]),
        "",
        "### Medians",
        "",
        *_median_rows(data["medians"]),
        "",
        *(
            f"- {s['name']}: fan-out cost (median p99, {n} subscribers - 1) "
            f"**{s['fanout_cost_ms']:+.1f} ms**; RSS per extra subscriber "
            f"**{s['per_subscriber_kib']:.1f} KiB**"
            for s in data["scenarios"]
        ),
        "",
        verdict(data),
        "",
        "Events: distinct events published in the window (from the last subscriber's first "
        "event to the final event's publication) that reached anyone; a subscriber that falls "
        "behind skips states (it only ever sends the newest event), so it may "
        "get fewer. Final fan-out: from the final event's publication to the last subscriber "
        "receiving it. Server CPU (% of one core, over the window) includes the backup's dump "
        "and zstd thread. RSS per extra subscriber: the median peak-minus-idle growth of the "
        f"{n}-subscriber runs minus that of the 1-subscriber runs, over {n - 1}. The clients "
        "run on the same 2 cores, so their receive processing is part of the latencies: the "
        "figures are an upper bound of the server's own delivery time.",
    ]
    return "\n".join(lines) + "\n"
