"""Real `lumbung serve` processes on 127.0.0.1, as a user runs them.

The server runs in a working dir of the caller's (where it finds a `.env`, and where its log
goes) with only the LUMBUNG_/DATABASE_ settings given here: the caller's own environment never
reaches it (children.child_env).

    server = start_server(tmp_path, {"LUMBUNG_JWT_SECRET": JWT_SECRET, ...})
    data = await post(server, "{ me { subject } }")
"""

from __future__ import annotations

import contextlib
import http.client
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.support.children import child_env
from tests.support.graphql import GraphQLClient
from tests.support.managed import ManagedServer
from tests.support.tokens import admin_token

_READY_TIMEOUT = 60.0
_CLI_TIMEOUT = 300.0


class LumbungServer(ManagedServer):
    """`python -m server serve` in `workdir`, ready once `ready_path` answers 200."""

    kind = "lumbung serve"
    stop_timeout = 15.0

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        *,
        workers: int = 1,
        ready_path: str = "/healthz",
    ) -> None:
        super().__init__(workdir, owned=False)
        self.log_path = workdir / f"serve-{self.port}.log"
        self.env = dict(env or {})
        self.workers = workers
        self.ready_path = ready_path

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host}:{self.port}/graphql"

    def _command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "server", "serve"),
            *("--host", self.host, "--port", str(self.port), "--workers", str(self.workers)),
        ]

    def _environment(self) -> dict[str, str]:
        return child_env(self.env)

    def _wait_ready(self, start: float) -> None:
        self._poll_ready(start, _READY_TIMEOUT, self._answers, what=f"200 from {self.ready_path}")

    def _answers(self) -> bool:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection.request("GET", self.ready_path)
                return connection.getresponse().status == 200
            return False
        finally:
            connection.close()

    def run_cli(self, *args: str) -> str:
        """A `lumbung` command in the server's working dir with its settings (so it reads the
        same `.env`); its stdout. RuntimeError with its stderr if it fails."""
        result = subprocess.run(
            [sys.executable, "-m", "server", *args],
            cwd=self.tmp_dir,
            env=self._environment(),
            capture_output=True,
            check=False,
            timeout=_CLI_TIMEOUT,
        )
        if result.returncode != 0:
            stderr = result.stderr.decode(errors="replace")
            raise RuntimeError(f"lumbung {args[0]} failed: {stderr}")
        return result.stdout.decode().strip()


def start_server(
    cwd: Path, env: Mapping[str, str] | None = None, *, workers: int = 1
) -> LumbungServer:
    """Start `lumbung serve` in `cwd` with only the given LUMBUNG_/DATABASE_ variables; return
    once /healthz answers."""
    return LumbungServer(cwd, env, workers=workers).start()


async def post(
    server: LumbungServer, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run a query as admin (servers started with LUMBUNG_JWT_SECRET=JWT_SECRET) and return
    `data`, failing on any error."""
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        return await GraphQLClient(client, admin_token).query(query, variables)
