"""The lines every section opens its facts with."""

from __future__ import annotations

from typing import Any


def fact_lines(data: dict[str, Any], *, machine_suffix: str = "") -> list[str]:
    """Date, machine, versions, source and command, as a result recorded them."""
    return [
        f"- Date: {data['date']}",
        f"- Machine: {data['machine']}{machine_suffix}",
        f"- Versions: {data['versions']}",
        f"- Source: {data['source']}",
        f"- Command: `{data['command']}`",
    ]


def per_run_lines(sides: list[str], runs: list[dict[str, Any]]) -> list[str]:
    """A table of each run's seconds per side, in the order the sides ran."""
    return [
        "| run | order | " + " | ".join(f"{side} s" for side in sides) + " |",
        "|---:|---|" + "---:|" * len(sides),
        *(
            f"| {r['run']} | {', '.join(r['order'])} | "
            + " | ".join(f"{r[side]:.2f}" for side in sides)
            + " |"
            for r in runs
        ),
    ]
