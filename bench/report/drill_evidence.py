"""The section of bench/drill_evidence.py."""

from __future__ import annotations

from typing import Any

from bench.report.facts import fact_lines

TITLE = "## Backup evidence (restore drills): its cost to a backup"


def _ratio(comparison: dict[str, Any]) -> str:
    low, high = comparison["interval"]
    return f"{comparison['ratio']:.3f}x ({low:.2f}-{high:.2f})"


def render(data: dict[str, Any]) -> str:
    medians = data["medians"]
    lines = [
        TITLE,
        "",
        "The same FULL backup by Lumbung's own backup job with LUMBUNG_BACKUP_EVIDENCE on and "
        "off, beside the native dump piped to `zstd -3`; each run in a rotating order, each "
        "backup after `sync` on a settled machine.",
        "",
        *fact_lines(data),
        f"- Data: bench/bigdb.py with {data['rows']:,} messages; {data['runs']} runs (medians; "
        "95% intervals by paired bootstrap over the runs).",
    ]
    if data.get("native_command"):
        lines.append(f"- Native: `{data['native_command']}`")
    lines += [
        "",
        "| backup | median | vs native | vs Lumbung without evidence |",
        "|---|---:|---:|---:|",
        f"| native `mariadb-dump \\| zstd -3` | {medians['native']:.2f} s | 1.00x | |",
        f"| Lumbung, evidence off | {medians['off']:.2f} s | {_ratio(data['off_vs_native'])} "
        "| 1.00x |",
        f"| Lumbung, evidence on (default) | {medians['on']:.2f} s | "
        f"{_ratio(data['on_vs_native'])} | {_ratio(data['on_vs_off'])} |",
        "",
    ]
    if data.get("per_run"):
        lines += [
            "| run | order | native s | on s | off s |",
            "|---:|---|---:|---:|---:|",
            *(
                f"| {r['run']} | {', '.join(r['order'])} | {r['native']:.2f} | {r['on']:.2f} "
                f"| {r['off']:.2f} |"
                for r in data["per_run"]
            ),
            "",
        ]
    lock = data["lock_ms"]
    lines.append(
        "The checksum pass alone (CHECKSUM TABLE ... EXTENDED of every table): "
        f"{data['checksum_pass_s']:.2f} s. Writes held back while the dump's snapshot was "
        f"joined (lockMs): median {lock['median']:.0f} ms, at most {lock['max']:.0f} ms."
    )
    return "\n".join(lines) + "\n"
