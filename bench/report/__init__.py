"""bench/RESULTS.md, rendered from data: each benchmark's latest result (results/<name>.json,
written by the benchmark) and the hand-written notes on it (notes/<name>.md, kept as written).

The renderer formats; it computes no statistics: every figure a section shows is in its data,
as the benchmark measured and derived it. `python -m bench.render` writes RESULTS.md,
`--check` tells whether it is up to date (a test runs that).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import (
    backup_restore,
    cache_clear,
    drill_evidence,
    graphql_vs_bare,
    offsite_encryption,
    parallel_dump,
    parallel_restore,
    subscribers,
)

BENCH = Path(__file__).resolve().parent.parent
RESULTS = BENCH / "RESULTS.md"
RESULTS_DIR = BENCH / "results"
NOTES_DIR = BENCH / "notes"

HEADER = (
    "# Benchmark results\n\n"
    "<!-- Rendered by `python -m bench.render` from bench/results/*.json (what each benchmark "
    "measured) and bench/notes/*.md (what we found out by hand): edit those, not this file. -->"
)
# The order of the sections; a result not named here comes after them, by name.
ORDER = (
    "graphql_vs_bare",
    "cache_clear",
    "backup_restore",
    "parallel_restore",
    "parallel_dump",
    "subscribers",
    "subscribers-2-workers",
    "drill_evidence",
    "offsite_encryption",
)
RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "graphql_vs_bare": graphql_vs_bare.render,
    "cache_clear": cache_clear.render,
    "backup_restore": backup_restore.render,
    "parallel_restore": parallel_restore.render,
    "parallel_dump": parallel_dump.render,
    "subscribers": subscribers.render,
    "drill_evidence": drill_evidence.render,
    "offsite_encryption": offsite_encryption.render,
}


def render_section(name: str, data: dict[str, Any], *, notes: bool = True) -> str:
    """One benchmark's section: its result, then (unless told not to) its notes."""
    section = RENDERERS[data["benchmark"]](data).rstrip("\n")
    written = NOTES_DIR / f"{name}.md"
    if notes and written.exists():
        section += "\n\n" + written.read_text(encoding="utf-8").rstrip("\n")
    return section + "\n"


def _names() -> list[str]:
    found = {path.stem for path in RESULTS_DIR.glob("*.json")}
    return [name for name in ORDER if name in found] + sorted(found - set(ORDER))


def render_results() -> str:
    sections = [HEADER]
    for name in _names():
        data = json.loads((RESULTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
        sections.append(render_section(name, data).rstrip("\n"))
    return "\n\n".join(sections) + "\n"


def write_results() -> None:
    RESULTS.write_text(render_results(), encoding="utf-8")


def up_to_date() -> bool:
    return RESULTS.exists() and RESULTS.read_text(encoding="utf-8") == render_results()
