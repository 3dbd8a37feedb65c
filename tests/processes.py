"""Real `lumbung serve` processes on 127.0.0.1, as a user runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from server.auth.keys import resolve_token_keys
from server.auth.tokens import issue_token
from server.settings import Settings
from tests.conftest import JWT_SECRET


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


def token(roles: list[str] | None = None, ttl: timedelta = timedelta(hours=1)) -> str:
    """A token for servers started with LUMBUNG_JWT_SECRET=JWT_SECRET (admin by default)."""
    settings = Settings(_env_file=None, jwt_secret=JWT_SECRET)
    return issue_token(
        settings, resolve_token_keys(settings), subject="1", roles=roles or ["admin"], ttl=ttl
    )


def auth(value: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {value or token()}"}


async def post(
    server: ServerProcess, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run a query on a started server as admin and return `data`, failing on any error."""
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=auth()
        )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data
