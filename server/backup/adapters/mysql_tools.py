"""Running the database's own client tools (mariadb-dump, mariadb): found on the PATH, started
so that they die with the server, fed and drained through wide pipes, stopped on cancel."""

from __future__ import annotations

import contextlib
import fcntl
import io
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import cache
from typing import BinaryIO

from server.backup.adapters.base import DumpPlan
from server.errors import BackendUnavailable

READ_SIZE = 1 << 20
PIPE_BYTES = 1 << 20
STDERR_LIMIT = 4000


def dump_arguments(
    configured: str | None, database: str, plan: DumpPlan, options: str
) -> list[str]:
    """The dump tool's argv for `plan` (the benchmark runs the very same command)."""
    arguments = [
        find_tool(configured, "mariadb-dump", "mysqldump"),
        f"--defaults-file={options}",  # first: no other option file may redirect us
        "--single-transaction",
        "--quick",
        "--hex-blob",
        "--default-character-set=utf8mb4",
        "--max-allowed-packet=1G",
        # Tablespaces are NDB Cluster's; asking for them needs PROCESS on MySQL 5.7.31+/8.0.21+.
        "--no-tablespaces",
        "--triggers",
    ]
    if plan.full:
        arguments += ["--routines", "--events"]
    if not plan.include_data:
        arguments.append("--no-data")
    if not plan.include_schema:
        arguments += ["--no-create-info", "--skip-triggers"]
    arguments += [f"--ignore-table={database}.{name}" for name in plan.exclude]
    # `--` first: a table named `--result-file=/tmp/x` stays a table name.
    arguments += ["--", database]
    if not plan.full:
        arguments += plan.tables
    return arguments


def client_arguments(configured: str | None, options: str) -> list[str]:
    """The client's argv for a restore; the database is named on its stdin, never here."""
    return [
        find_tool(configured, "mariadb", "mysql"),
        f"--defaults-file={options}",  # first: no other option file may redirect us
        "--default-character-set=utf8mb4",
        "--binary-mode",
        "--max-allowed-packet=1G",
    ]


@cache
def version_of(binary: str) -> str:
    result = subprocess.run(  # noqa: S603 - a fixed binary, no user input
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    return result.stdout.strip() or result.stderr.strip()


def find_tool(configured: str | None, *candidates: str) -> str:
    for name in (configured, *candidates):
        if name and (path := shutil.which(name)):
            return path
    raise BackendUnavailable(
        f"None of {', '.join(c for c in (configured, *candidates) if c)} is installed: install "
        "the MariaDB client tools (Debian: apt-get install mariadb-client)."
    )


@cache
def _wrapper(name: str, *options: str) -> tuple[str, ...]:
    """`name options...`, a command prefix that execs the command after it, when it works here
    (stdbuf preloads a library that may be missing); () when it does not, and the command then
    runs as it is. Probed once."""
    path = shutil.which(name)
    if path is None:
        return ()
    probe = subprocess.run(  # noqa: S603 - a fixed binary, no user input
        [path, *options, "true"], capture_output=True, timeout=10, check=False
    )
    return (path, *options) if probe.returncode == 0 else ()


def dies_with_us(arguments: list[str]) -> list[str]:
    """The tool is SIGKILLed when the thread that started it dies, i.e. when the server does:
    a restore's client would otherwise go on executing what it had read, and race the
    rollback that the next start runs. util-linux's setpriv sets PR_SET_PDEATHSIG and execs
    the tool, whose argv in /proc is unchanged. The job's thread outlives the tool: it waits
    for it."""
    return [*_wrapper("setpriv", "--pdeathsig", "KILL", "--"), *arguments]


def block_buffered(arguments: list[str]) -> list[str]:
    """The dump tool writes through stdio in blocks of the pipe's st_blksize, 4 KiB: ~250,000
    writes per GB, each waking the reader for one small read. Run under coreutils' `stdbuf` it
    writes PIPE_BYTES at a time, which costs both sides less CPU (bench/RESULTS.md). The tool
    itself (and its argv in /proc) is unchanged: stdbuf execs it with one more library
    preloaded."""
    return [*_wrapper("stdbuf", f"-o{PIPE_BYTES}"), *arguments]


def widen_pipe(fd: int) -> None:
    """A pipe holds 64 KiB by default: the dump tool would stall whenever the pipeline is busy
    compressing, and every read would hand over a sliver. 1 MiB lets both sides run at once."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def chunks(stream: io.BufferedReader) -> Iterator[bytes]:
    """The stream in pieces of READ_SIZE (the last one shorter): the per-piece work (split,
    count, compress, hash) is paid per megabyte, not per pipe read. `read(n)` fills one new
    buffer straight from the pipe until it holds n bytes, without gathering copies."""
    while piece := stream.read(READ_SIZE):
        yield piece


def stderr_tail(stderr: BinaryIO) -> str:
    """The end of what a tool wrote to its stderr file, on one line."""
    stderr.seek(0, io.SEEK_END)
    stderr.seek(max(stderr.tell() - STDERR_LIMIT, 0))
    data = stderr.read()
    message = data[-STDERR_LIMIT:].decode("utf-8", "replace").strip()
    return " ".join(line for line in message.splitlines() if line.strip("- "))


def exit_reason(returncode: int) -> str:
    """`exit status 2`, or `killed by signal 9` for a negative return code."""
    return f"exit status {returncode}" if returncode >= 0 else f"killed by signal {-returncode}"


def kill_on_cancel(process: subprocess.Popen[bytes], cancel: threading.Event) -> threading.Event:
    """Kill `process` as soon as `cancel` is set; set the returned event to stop watching."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if cancel.wait(0.2):
                process.kill()
                return

    threading.Thread(target=watch, name="lumbung-cancel-watch", daemon=True).start()
    return done
