"""The section of bench/parallel_restore.py."""

from __future__ import annotations

from typing import Any

from bench.report.facts import fact_lines, per_run_lines

TITLE = "## Parallel restore: Lumbung vs `zstd -dc | mariadb` vs `myloader`"


def _ratio(comparison: dict[str, Any], target: float | None) -> str:
    low, high = comparison["interval"]
    if target is None:
        return f"{comparison['ratio']:.2f}x ({low:.2f}-{high:.2f})"
    met = "met" if comparison["ratio"] <= target else "not met"
    return f"{comparison['ratio']:.2f}x ({low:.2f}-{high:.2f}; target <= {target:.2f}x: {met})"


def render(data: dict[str, Any]) -> str:
    medians, cpu, n = data["medians"], data["cpu_per_gb"], data["connections"]
    commands = data["commands"]
    sides = [s for s in ("native", "Lumbung", "myloader", "myloader -c") if s in medians]
    lines = [
        TITLE,
        "",
        "The same database restored three ways in one run, in a rotating order, each restore "
        "after `sync` on a settled machine; Lumbung's restore job without its safety backup, "
        f"over {n} connections, from its own chunked FULL backup.",
        "",
        *fact_lines(data),
        f"- Data: bench/bigdb.py with {data['rows']:,} messages, {data['sql_bytes'] / 1e9:.2f} "
        f"GB of SQL (Lumbung's file: {data['lumbung_file_bytes'] / 1e6:.0f} MB, "
        f"{data['chunks']} chunk sections); {data['runs']} runs (medians; 95% intervals by "
        "paired bootstrap over the runs).",
        f"- Native: `{commands['native']}`",
        f"- myloader: `{commands['myloader']}` on `{commands['mydumper']}`'s dump",
        "- CHECKSUM TABLE unchanged by each side's restore: "
        + ("yes" if data["checksums_ok"] else "no"),
        "- myloader deadlocked its own threads and was run again (its time from the run that "
        "finished) in runs: "
        + (", ".join(str(r) for r in data.get("myloader_retried_in_runs", [])) or "none"),
        "",
        "| restore | median | Lumbung vs it | client-side CPU s/GB | mariadbd CPU s/GB |",
        "|---|---:|---:|---:|---:|",
        f"| native `zstd -dc \\| mariadb` | {medians['native']:.2f} s | "
        f"{_ratio(data['vs_native'], data['targets']['native'])} | "
        f"{cpu['native']['client']:.2f} | {cpu['native']['mariadbd']:.2f} |",
        f"| `myloader -t {n}` | {medians['myloader']:.2f} s | "
        f"{_ratio(data['vs_myloader'], data['targets']['myloader'])} | "
        f"{cpu['myloader']['client']:.2f} | {cpu['myloader']['mariadbd']:.2f} |",
        *(
            [
                f"| `myloader -t {n}` on the compressed dump (`-c`), for reference | "
                f"{medians['myloader -c']:.2f} s | {_ratio(data['vs_myloader_compressed'], None)} "
                f"| {cpu['myloader -c']['client']:.2f} | {cpu['myloader -c']['mariadbd']:.2f} |"
            ]
            if "myloader -c" in medians
            else []
        ),
        f"| Lumbung, {n} connections | {medians['Lumbung']:.2f} s | | "
        f"{cpu['Lumbung']['client']:.2f} | {cpu['Lumbung']['mariadbd']:.2f} |",
        "",
        *per_run_lines(sides, data["per_run"]),
        "",
        "Client-side CPU: the tools' (zstd and mariadb; myloader) and, for Lumbung, its own "
        "Python process (verifying, reading, decompressing, sending the rows over its own "
        "connections) with its `mariadb` clients (structure, triggers, routines). "
        f"Lumbung's RSS during its restore: {data['rss_mb']['idle']:.0f} MB idle, "
        f"{data['rss_mb']['peak']:.0f} MB at its peak (medians).",
    ]
    return "\n".join(lines) + "\n"
