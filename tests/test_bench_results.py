"""bench/RESULTS.md is rendered from data (bench/results/*.json) and hand-written notes
(bench/notes/*.md). Like the SDL snapshot, a stale copy fails here: whoever changes a result, a
note or the renderer renders it again in the same commit."""

from __future__ import annotations

from bench import report


def test_results_md_is_what_the_results_and_notes_render() -> None:
    assert report.up_to_date(), "bench/RESULTS.md is stale: run `.venv/bin/python -m bench.render`"


def test_every_result_keeps_its_notes_after_its_own_section() -> None:
    rendered = report.render_results()
    for notes in sorted(report.NOTES_DIR.glob("*.md")):
        assert (report.RESULTS_DIR / f"{notes.stem}.json").exists(), f"{notes.name} has no result"
        assert notes.read_text(encoding="utf-8").strip() in rendered
