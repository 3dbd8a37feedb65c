"""The section of bench/parallel_dump.py."""

from __future__ import annotations

from typing import Any

from bench.report.facts import fact_lines, per_run_lines

TITLE = "## Parallel dump: Lumbung by one and by N dumps vs `mariadb-dump | zstd` vs mydumper"


def _ratio(comparison: dict[str, Any], target: float | None = None) -> str:
    low, high = comparison["interval"]
    shown = f"{comparison['ratio']:.2f}x ({low:.2f}-{high:.2f}"
    if target is None:
        return shown + ")"
    met = "met" if comparison["ratio"] <= target else "not met"
    return f"{shown}; target <= {target:.2f}x: {met})"


def render(data: dict[str, Any]) -> str:
    medians, cpu, n, sides = data["medians"], data["cpu_per_gb"], data["connections"], data["sides"]
    parallel = sides[2]
    mode = data["modes"][0] if data["modes"] else {}
    lines = [
        TITLE,
        "",
        "The same database backed up five ways in one run, in a rotating order, each backup "
        "after `sync` on a settled machine: the native pipeline, Lumbung's backup job (FULL) "
        f"with LUMBUNG_BACKUP_CONNECTIONS=1 and ={n}, and mydumper with {n} threads, plain and "
        "with its gzip compression (`-c`), for reference.",
        "",
        *fact_lines(data),
        f"- Data: bench/bigdb.py with {data['rows']:,} messages, {data['sql_bytes'] / 1e9:.2f} "
        f"GB of SQL; {data['runs']} runs (medians; 95% intervals by paired bootstrap over the "
        "runs).",
        f"- Native: `{data['commands']['native']}`",
        f"- mydumper: `{data['commands']['mydumper']}` (and the same with `-c`)",
        f"- Lumbung's parallel backups were made with `{mode.get('mode')}`, "
        f"{mode.get('connections')} dumps, `{mode.get('table')}` in key ranges; one backup of "
        "each Lumbung side restored gave back the same CHECKSUM TABLE: "
        + ("yes" if len(data["restored_ok"]) == 2 else "no"),
        "",
        "| backup | median | vs native | size MB | client-side CPU s/GB | mariadbd CPU s/GB |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {side} | {medians[side]:.2f} s | "
            + (_ratio(data["vs_native"][side], data["target"]) if side in data["vs_native"] else "")
            + f" | {data['sizes_mb'][side]:.0f} | {cpu[side]['client']:.2f} | "
            f"{cpu[side]['mariadbd']:.2f} |"
            for side in sides
        ),
        "",
        f"- {parallel} against Lumbung 1: {_ratio(data['parallel_vs_one'])}",
        "",
        *per_run_lines(sides, data["per_run"]),
        "",
        "Client-side CPU: the tools' (mariadb-dump and zstd; mydumper) and, for Lumbung, its "
        "own Python process (splitting, compressing, hashing, writing) with its dump tools. "
        f"Lumbung's RSS during its backups: {data['rss_mb']['idle']:.0f} MB idle, "
        f"{data['rss_mb']['peak']:.0f} MB at its peak (medians).",
    ]
    return "\n".join(lines) + "\n"
