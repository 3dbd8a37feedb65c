"""What every benchmark here shares: the facts a result records (machine, source, command,
versions), comparisons of two sides run by run (medians, ratios and a paired bootstrap
interval), results written as data and rendered, and a main that unwinds like Ctrl-C on SIGTERM.

Servers, clients, ports, private files and child processes come from tests.support, as the
tests get them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shlex
import signal
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from bench import report
from tests.support.children import child_env

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


class BenchmarkError(RuntimeError):
    """The benchmark cannot give a valid figure; the message says why."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- facts


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nproc = len(os.sched_getaffinity(0))
    memory = psutil.virtual_memory().total / 2**30
    return f"{nproc} CPUs (nproc), {model}, {memory:.1f} GiB RAM, Linux {platform.release()}"


def source_state() -> str:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, check=False)
        return result.stdout.decode().strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "server", "schema")
    return f"commit {commit}" + (" + uncommitted changes in server/ or schema/" if dirty else "")


def command_line() -> str:
    """How this benchmark was run, as one would type it again from the repository root."""
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        module = script.relative_to(REPO).with_suffix("").as_posix().replace("/", ".")
        return shlex.join([sys.executable, "-m", module, *sys.argv[1:]])
    return shlex.join([sys.executable, *sys.argv])


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def tool_version(*argv: str) -> str:
    """What `argv` (e.g. `zstd --version`) prints, on one line."""
    result = subprocess.run(argv, capture_output=True, check=False, env=child_env())
    text = (result.stdout or result.stderr).decode(errors="replace").strip()
    return " ".join(text.split())


def facts() -> dict[str, str]:
    """Date, machine, source and command: the first lines of every result."""
    return {
        "date": now(),
        "machine": machine(),
        "source": source_state(),
        "command": command_line(),
    }


# --------------------------------------------------------------------------- comparisons

# Resamples for ratio_interval, and its fixed seed: the same runs always give the same interval.
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 20261127


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio_interval(reference: Sequence[float], ours: Sequence[float]) -> tuple[float, float]:
    """A 95% interval for median(ours) / median(reference), by a paired bootstrap over runs:
    the runs are drawn with replacement, each with both of its measures, since the two sides
    of one run share the machine's state at that time. How far the ratio of medians could
    move on this machine, given how much the runs themselves vary."""
    if len(reference) != len(ours) or not reference:
        raise ValueError("ratio_interval needs one measure of each side per run")
    draw = random.Random(BOOTSTRAP_SEED)
    runs = range(len(reference))
    ratios = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        picked = draw.choices(runs, k=len(reference))
        ratios.append(
            statistics.median(ours[i] for i in picked)
            / statistics.median(reference[i] for i in picked)
        )
    ratios.sort()
    return ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios)) - 1]


@dataclass(frozen=True)
class Comparison:
    """Two sides measured run by run (one measure of each per run): their medians, the ratio
    of the medians (ours ÷ reference), each run's own ratio and the 95% interval."""

    reference: float
    ours: float
    ratio: float
    pair_ratios: list[float]
    interval: tuple[float, float]

    def as_data(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "ours": self.ours,
            "ratio": self.ratio,
            "pair_ratios": self.pair_ratios,
            "interval": list(self.interval),
        }


def compare(reference: Sequence[float], ours: Sequence[float]) -> Comparison:
    reference_median, ours_median = median(reference), median(ours)
    return Comparison(
        reference=reference_median,
        ours=ours_median,
        ratio=ours_median / reference_median,
        pair_ratios=[b / a for a, b in zip(reference, ours, strict=True)],
        interval=ratio_interval(reference, ours),
    )


# --------------------------------------------------------------------------- results


def result_options(parser: argparse.ArgumentParser, quick: str) -> None:
    """--no-write and --quick (`quick`: what its smoke run runs), as every benchmark has them."""
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave bench/results alone"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"a smoke run ({quick}) that records nothing"
    )


def publish(name: str, data: dict[str, Any], *, write: bool) -> None:
    """Print the result as RESULTS.md would show it (without the notes); with `write`, keep it as
    bench/results/<name>.json and render RESULTS.md again (every other result and the notes
    stay as they are)."""
    print("\n" + report.render_section(name, data, notes=False))
    if write:
        path = report.RESULTS_DIR / f"{name}.json"
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        report.write_results()
        log(f"wrote {path.relative_to(REPO)} and rendered {report.RESULTS.relative_to(REPO)}")


# --------------------------------------------------------------------------- running


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def interrupts_on_termination() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so every `finally` runs."""
    previous = {
        sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(main: Callable[[], int]) -> None:
    """Run `main` and exit with its code: 1 with a message when the benchmark or one of its
    servers fails, 130 on Ctrl-C or SIGTERM (everything started is stopped by then)."""
    try:
        with interrupts_on_termination():
            code = main()
    except (BenchmarkError, RuntimeError, AssertionError) as exc:
        log(f"benchmark failed: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted; everything started was stopped and temp dirs removed")
        sys.exit(130)
    sys.exit(code)
