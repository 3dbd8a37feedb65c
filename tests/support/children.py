"""Child processes: the environment they get, dying with us, stopping them."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import Any

# Lumbung's settings (environment variables beat a child's own .env) and what the MariaDB and
# Redis clients would obey: a developer's shell must not reach our children, nor any password
# in MYSQL_PWD.
_SCRUBBED_PREFIXES = ("LUMBUNG_", "DATABASE_")
_SCRUBBED = (
    "MYSQL_PWD",
    "MYSQL_HOST",
    "MYSQL_TCP_PORT",
    "MYSQL_UNIX_PORT",
    "MYSQL_HOME",
    "REDISCLI_AUTH",
)
STOP_TIMEOUT = 15.0


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what must not reach a child, plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_SCRUBBED_PREFIXES) and key not in _SCRUBBED
    }
    # The mariadb client keeps a history of interactive input; never of ours.
    env["MYSQL_HISTFILE"] = os.devnull
    env.update(extra or {})
    return env


def die_with_parent() -> list[str]:
    """Command prefix that SIGKILLs the child when this process dies.

    atexit does not run when we are SIGKILLed (CI timeouts, OOM); without this a 128 MiB
    mariadbd would outlive us. util-linux's setpriv sets PR_SET_PDEATHSIG and execs the
    command, so the pid we hold and the child's argv are its own. The signal fires when the
    *thread* that forked exits, so only the main thread, which lives as long as the process,
    may use it.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return []
    return [setpriv, "--pdeathsig", "KILL", "--"]


def spawn(argv: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start `argv` with child_env(), dying with us, in a session of its own (a Ctrl-C reaches
    only us, and we stop our children in order)."""
    popen.setdefault("env", child_env())
    return subprocess.Popen(
        [*die_with_parent(), *argv], close_fds=True, start_new_session=True, **popen
    )


def stop_process(process: subprocess.Popen[Any] | None, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, wait up to `timeout` s, then SIGKILL; returns once it is gone."""
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()
