"""Render bench/RESULTS.md from bench/results/*.json and bench/notes/*.md.

python -m bench.render           # write it
python -m bench.render --check   # exit 1 if it is not what the data and notes make
"""

from __future__ import annotations

import argparse
import sys

from bench import report


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only tell whether it is current")
    args = parser.parse_args()
    if args.check:
        if report.up_to_date():
            return 0
        print(f"{report.RESULTS} is stale: run `python -m bench.render`", file=sys.stderr)
        return 1
    report.write_results()
    return 0


if __name__ == "__main__":
    sys.exit(main())
