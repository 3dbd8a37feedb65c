"""Figures for people: sizes and uptimes, as every part of Lumbung writes them."""

from __future__ import annotations


def format_bytes(size: int) -> str:
    """`2.4 GB` (decimal units, as disk makers and the seed count)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_uptime(seconds: int) -> str:
    """`up 7 days, 14 hours` (like `uptime -p`, keeping the two largest units)."""
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [
        f"{value} {unit}{'' if value == 1 else 's'}"
        for value, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
        if value
    ][:2]
    return "up " + (", ".join(parts) if parts else "0 minutes")


def format_duration(seconds: float) -> str:
    """`4 min 12 s`, `3.2 s`, `0.4 s`: how long something takes, to the precision that helps."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
