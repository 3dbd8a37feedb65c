"""The real `age` CLI (Debian package `age`), for checking Lumbung's age files both ways.

age reads a passphrase only from a terminal, never from a pipe or the environment, so the
passphrase cases run it on a pseudo-terminal and type the passphrase at its prompt.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import time
from pathlib import Path

from server.encryption.keys import Identity

TIMEOUT = 60.0


def age_binary(name: str = "age") -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: apt-get install -y age (or run `make test`)")
    return found


def keygen(path: Path) -> Identity:
    """A key file made by age-keygen (mode 0600), and its identity as Lumbung parses it."""
    subprocess.run([age_binary("age-keygen"), "-o", str(path)], check=True, capture_output=True)
    from server.encryption.keys import parse_identities

    return parse_identities(path.read_text(), str(path))[0]


def run_on_terminal(argv: list[str], answers: list[bytes]) -> str:
    """Run `argv` with a pseudo-terminal as its controlling terminal, answering each prompt
    (a line ending in `:`) with the next answer; returns what it printed there."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        os.execv(argv[0], argv)  # noqa: S606 - a test runs the age CLI it checks against
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + TIMEOUT
    status: int | None = None
    try:
        while status is None:
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                raise AssertionError(f"{argv[0]} did not finish: {output!r}")
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed its terminal
                    chunk = b""
                output += chunk
                if pending and output.rstrip().endswith(b":"):
                    os.write(fd, pending.pop(0) + b"\n")
                    output += b"\n"
                if not chunk:
                    status = os.waitpid(pid, 0)[1]
                    break
            reaped, code = os.waitpid(pid, os.WNOHANG)
            if reaped:
                status = code
    finally:
        os.close(fd)
    text = output.decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise AssertionError(f"{argv} failed: {text}")
    return text
