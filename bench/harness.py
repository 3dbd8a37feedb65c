"""What every benchmark here shares: logging, ports, child processes that die with us, private
files, the environment children get, the facts a RESULTS section records, and signals that
unwind like Ctrl-C. The scripts run as `python bench/<name>.py`, so this imports as `harness`."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import psutil

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
RESULTS = BENCH / "RESULTS.md"
# Each section may end with a hand-written subsection under this heading (profiles, what changed
# and why): rewriting the section keeps it.
NOTES_HEADING = "### Where the time goes"
HOST = "127.0.0.1"
LOG_TAIL = 3000  # bytes of a child's log quoted when it fails

# Settings the children must not inherit from this shell (env vars beat their .env), nor the
# client tools' connection and password variables.
_SCRUBBED_PREFIXES = ("LUMBUNG_", "DATABASE_")
_SCRUBBED = (
    "MYSQL_PWD",
    "MYSQL_HOST",
    "MYSQL_TCP_PORT",
    "MYSQL_UNIX_PORT",
    "MYSQL_HOME",
    "REDISCLI_AUTH",
)


class BenchmarkError(RuntimeError):
    """The benchmark cannot give a valid figure; the message says why."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# Resamples for ratio_interval, and its fixed seed: the same runs always give the same interval.
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 20261127


def ratio_interval(reference: list[float], ours: list[float]) -> tuple[float, float]:
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


def child_env() -> dict[str, str]:
    """This environment without what must not reach a child: Lumbung's settings (env vars beat
    the child's own .env) and the client tools' connection and password variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_SCRUBBED_PREFIXES) and key not in _SCRUBBED
    }
    env["MYSQL_HISTFILE"] = os.devnull
    return env


def write_private(path: Path, text: str) -> None:
    """Write a file only we can read (a password, a token secret or a token)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


def write_dotenv(directory: Path, values: dict[str, str]) -> None:
    lines = [f"{key}={json.dumps(value)}" for key, value in values.items()]  # double-quoted
    write_private(directory / ".env", "\n".join(lines) + "\n")


def die_with_parent() -> list[str]:
    """setpriv prefix: the child is SIGKILLed if this process dies without cleaning up.
    setpriv execs the tool, so the pid we hold is the tool's own."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return []
    return [setpriv, "--pdeathsig", "KILL", "--"]


def tail(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    return data[-LOG_TAIL:].decode("utf-8", "replace")


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
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(Path.cwd())
    return shlex.join([sys.executable, str(script), *sys.argv[1:]])


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


def write_results(section: str, title: str) -> None:
    """Replace the section titled `title` in RESULTS.md (or append it), keeping every other
    section and the section's own hand-written notes (NOTES_HEADING, at its end)."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == title), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if re.match(r"#{1,2} ", lines[i])), len(lines)
        )
        notes = next((i for i in range(start, end) if lines[i].rstrip() == NOTES_HEADING), None)
        if notes is not None:
            kept = "".join(lines[notes:end]).rstrip("\n")
            section = section.rstrip("\n") + "\n\n" + kept + "\n"
        after = "".join(lines[end:])
        new = "".join(lines[:start]) + section + ("\n" + after if after else "")
    RESULTS.write_text(new.rstrip("\n") + "\n", encoding="utf-8")
