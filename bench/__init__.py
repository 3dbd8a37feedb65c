"""Side-by-side benchmarks, run from the repository root: `python -m bench.<name>`.

harness.py is what they share (facts, comparisons, results as data), report/ renders the
results in results/*.json and the notes in notes/*.md into RESULTS.md (`python -m bench.render`),
and tests/support is where their servers and clients come from.
"""
