"""The section of bench/offsite_encryption.py."""

from __future__ import annotations

from typing import Any

from bench.report.facts import fact_lines

TITLE = "## Encryption and offsite copy (~1 GB MariaDB)"


def _interval(comparison: dict[str, Any]) -> str:
    low, high = comparison["interval"]
    return f"95% interval {low:.2f}-{high:.2f}"


def render(data: dict[str, Any]) -> str:
    copied, encrypted, native_age = data["copied"], data["encrypted"], data["native_age"]
    met = "met" if data["met"] else "not met"
    lines = [
        TITLE,
        "",
        "Five jobs per run, their order rotated each run, `sync` before each: the native "
        "pipeline `mariadb-dump | zstd -3`, the same `| age -r KEY`, Lumbung's FULL backup "
        "until `COMPLETED`, the same encrypted to KEY, and the same encrypted and copied to a "
        "private SeaweedFS (S3 on loopback) until the copy is `COMPLETED` (uploaded, read back "
        "whole, SHA-256 compared). Lumbung runs in the benchmark's own process, through its "
        "services, so its three jobs differ only by their settings.",
        "",
        *fact_lines(data),
        f"- Size: {data['runs']} runs, {data['messages']:,} messages.",
        "",
        "| job | median s | runs (s) | file |",
        "|---|---:|---|---:|",
        *(
            f"| {job['job']} | {job['median_s']:.2f} | "
            f"{', '.join(f'{t:.2f}' for t in job['runs_s'])} | {job['file_bytes'] / 1e6:.1f} MB |"
            for job in data["jobs"]
        ),
        "",
        "- Lumbung encrypted and copied to S3 (until the copy is read back and compared) / "
        f"Lumbung alone: **{copied['ratio']:.2f}x** ({_interval(copied)}); target at most "
        f"{data['target_ratio']:.2f}x: {met}.",
        "- Of which encryption (Lumbung encrypted, until COMPLETED / Lumbung alone): "
        f"{encrypted['ratio']:.2f}x ({_interval(encrypted)}).",
        f"- `age` in the native pipeline: {native_age['ratio']:.2f}x the native pipeline alone.",
        "- The SeaweedFS here runs on the same two cores as the dump; a real bucket's work is "
        "done elsewhere.",
    ]
    return "\n".join(lines) + "\n"
