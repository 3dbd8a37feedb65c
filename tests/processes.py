"""Real `lumbung serve` processes on 127.0.0.1, as a user runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    cwd: Path, env: dict[str, str] | None = None, *, workers: int = 1
) -> ServerProcess:
    """Start `lumbung serve` with only the given LUMBUNG_/DATABASE_ variables; wait for /healthz."""
    port = free_port()
    log = cwd / f"serve-{port}.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LUMBUNG_", "DATABASE_"))}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=cwd,
            env={**clean, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, port, log)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{server.base}/healthz", timeout=1):  # noqa: S310
                return server
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise AssertionError(server.output()) from None
            time.sleep(0.1)
