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
