"""A server process in a folder of its own, tracked so that exit never leaks it.

The base of MariaDBServer, RedisServer and LumbungServer (and of the benchmarks' own servers):
a subclass says how to start the server and how to tell that it answers; this class starts it
on a free port (another one if the port was taken meanwhile), keeps its output in a log,
stops it and cleans up, also at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.children import child_env, die_with_parent
from tests.support.files import file_size, read_from, tail
from tests.support.ports import LOCALHOST, free_port

POLL_INTERVAL = 0.05
# The port is chosen by binding to port 0 and closing again, so another process may grab it
# before the server binds: on a first start we pick another port.
_PORT_ATTEMPTS = 3


class StartFailed(Exception):
    """The server exited or did not become ready; the message says why."""


def port_taken(log_text: str) -> bool:
    text = log_text.lower()
    return "address already in use" in text or "can't start server: bind" in text


class ManagedServer:
    """A server process in `directory`: its working dir, where its log goes. An `owned`
    directory is the server's alone and goes away with cleanup()."""

    kind = "server"
    stop_timeout = 30.0

    def __init__(self, directory: Path, *, owned: bool, log_name: str = "output.log") -> None:
        self.tmp_dir = directory
        self._owned = owned
        self.host = LOCALHOST
        self.port = free_port()
        self.log_path = directory / log_name
        self._proc: subprocess.Popen[bytes] | None = None
        self._ever_started = False
        self._cleaned = False
        _LIVE.add(self)

    # -- subclass hooks
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _environment(self) -> dict[str, str]:
        return child_env()

    def _startup_log(self) -> Path:
        """The file where the server explains why it did not start."""
        return self.log_path

    def _wait_ready(self, start: float) -> None:
        """Return once the server answers; raise StartFailed if it never will."""
        raise NotImplementedError

    def _prepare(self) -> None:
        """One-time work before the first start (e.g. create the datadir)."""

    def _after_ready(self) -> None:
        """Work to do once the server answers (e.g. create users)."""

    # -- lifecycle
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The running process (for fault tests that kill it themselves)."""
        if self._proc is None:
            raise RuntimeError(f"{self.kind} is not running")
        return self._proc

    def output(self) -> str:
        """Everything the server wrote to its log."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def check_alive(self) -> None:
        """RuntimeError with the log's tail if the server is no longer running."""
        if not self.running:
            code = None if self._proc is None else self._proc.returncode
            raise RuntimeError(
                f"{self.kind} exited (code {code})\n--- {self.log_path} ---\n{tail(self.log_path)}"
            )

    def start(self) -> Self:
        """Start the server and wait until it answers; no-op if it is running."""
        if self._cleaned:
            raise RuntimeError(f"{self.kind} server was cleaned up; create a new one")
        if not self.running:
            self._prepare()
            self._start_process()
        return self

    def _start_process(self) -> None:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            failure = self._launch()
            if failure is None:
                break
            reason, logs = failure
            # After the first start the port is part of the contract (clients hold URLs), so
            # only a brand-new server may move to another one.
            if self._ever_started or attempt == _PORT_ATTEMPTS or not port_taken(logs):
                raise RuntimeError(
                    f"{self.kind} on port {self.port} did not start: {reason}\n{logs}"
                )
            self.port = free_port()
        self._ever_started = True
        try:
            self._after_ready()
        except BaseException:
            self.stop()  # half-set-up servers would only confuse the next start()
            raise

    def _launch(self) -> tuple[str, str] | None:
        """Spawn once and wait; on failure the process is gone and we return why."""
        logs = dict.fromkeys([self._startup_log(), self.log_path])  # ordered, no duplicates
        offsets = {path: file_size(path) for path in logs}
        self._spawn()
        try:
            self._wait_ready(time.monotonic())
        except StartFailed as exc:
            self.kill()
            excerpts = (
                f"--- {path} ---\n{text}"
                for path, offset in offsets.items()
                if (text := read_from(path, offset).strip())
            )
            return str(exc), "\n".join(excerpts)
        return None

    def _spawn(self) -> None:
        with self.log_path.open("ab") as output:
            # The child gets its own copy of the descriptor; ours closes here.
            self._proc = subprocess.Popen(
                [*die_with_parent(), *self._command()],
                cwd=self.tmp_dir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                close_fds=True,
                # Own session: Ctrl-C must not kill it before our cleanup runs.
                start_new_session=True,
            )

    def _exited_early(self) -> str | None:
        if self._proc is None:
            return "not started"
        code = self._proc.poll()
        return None if code is None else f"process exited with code {code}"

    def _poll_ready(
        self,
        start: float,
        timeout: float,
        answers: Callable[[], bool],
        *,
        what: str = "an answer",
        interval: float = POLL_INTERVAL,
    ) -> None:
        """Wait until `answers()`; StartFailed if the process exits or `timeout` s pass."""
        deadline = start + timeout
        while time.monotonic() < deadline:
            problem = self._exited_early()
            if problem:
                raise StartFailed(problem)
            if answers():
                return
            time.sleep(interval)
        raise StartFailed(f"no {what} within {timeout:.0f} s")

    def stop(self) -> None:
        """SIGTERM, wait up to stop_timeout, then SIGKILL. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()

    def kill(self) -> None:
        """SIGKILL now (for fault tests) and wait until the process is gone."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def cleanup(self) -> None:
        """Stop the server and delete its folder (data and logs) if it owns it."""
        self.stop()
        self._remove_files()
        self._cleaned = True
        _LIVE.discard(self)

    def _remove_files(self) -> None:
        if self._owned:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _abandon(self) -> None:
        """Last-resort cleanup at interpreter exit: no grace, no errors."""
        with contextlib.suppress(Exception):
            self.kill()
        with contextlib.suppress(Exception):
            self._remove_files()
        self._cleaned = True

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cleanup()


_LIVE: set[ManagedServer] = set()


@atexit.register
def _kill_leftovers() -> None:
    # Servers a test forgot to clean up: kill them and free their disk space.
    for server in list(_LIVE):
        server._abandon()
    _LIVE.clear()
