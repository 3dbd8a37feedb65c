"""A private, throwaway, non-persistent Redis server: its own temporary folder, 127.0.0.1, a
free port, no configuration file (/etc/redis is never read)."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from tests.support.binaries import binary
from tests.support.managed import POLL_INTERVAL, ManagedServer
from tests.support.mariadb import SHORT_TMP

_READY_TIMEOUT = 10.0


def _redis_answers(host: str, port: int, own_dir: bytes) -> bool:
    """True once the Redis on host:port answers PING and is ours.

    PING alone could be answered by another Redis that took the port first; our server is the
    one whose working dir is our private temp dir.
    """
    try:
        with socket.create_connection((host, port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\nCONFIG GET dir\r\n")
            reply = b""
            while own_dir not in reply:
                chunk = conn.recv(4096)
                if not chunk:
                    return False
                reply += chunk
            return reply.startswith(b"+PONG")
    except OSError:  # refused, reset or timed out: not (yet) ours
        return False


class RedisServer(ManagedServer):
    """A private, non-persistent redis-server."""

    kind = "Redis"

    def __init__(self, base_dir: Path | None = None) -> None:
        parent = Path(base_dir) if base_dir is not None else SHORT_TMP
        parent.mkdir(parents=True, exist_ok=True)
        super().__init__(Path(tempfile.mkdtemp(prefix="lb-redis-", dir=parent)), owned=True)
        # Redis reports its dir after resolving symlinks.
        self._own_dir = os.path.realpath(self.tmp_dir).encode()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def restart(self) -> None:
        """Stop, then start again on the same port (data is not kept)."""
        self.stop()
        self.start()

    def _command(self) -> list[str]:
        # Options only, no config file: /etc/redis/redis.conf is never read.
        return [
            binary("redis-server"),
            *("--port", str(self.port), "--bind", self.host, "--daemonize", "no"),
            *("--save", "", "--appendonly", "no", "--dir", str(self.tmp_dir)),
            *("--logfile", ""),  # log to stdout, which goes to output.log
            # DEBUG HTSTATS tells when the key table has finished resizing (tests/cache).
            *("--enable-debug-command", "local"),
        ]

    def _wait_ready(self, start: float) -> None:
        self._poll_ready(
            start,
            _READY_TIMEOUT,
            lambda: _redis_answers(self.host, self.port, self._own_dir),
            what="+PONG",
            interval=POLL_INTERVAL / 5,
        )
