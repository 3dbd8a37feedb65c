"""Database credentials for the client tools, in a 0600 option file: never in argv (visible in
`ps` and /proc/*/cmdline), never in a child's environment (visible in /proc/*/environ)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL

# Option-file folders in the temp folder: `lumbung-client-<pid>-<random>` (the folders of
# Lumbung before memfd had no pid: `lumbung-client-<random>`, removed as stale too).
STALE_PREFIX = "lumbung-client-"
STALE_AFTER_SECONDS = 600


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    user: str
    database: str
    password: str = field(repr=False)
    socket: str | None = None

    @classmethod
    def from_url(cls, url: URL) -> ServerAddress:
        return cls(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            database=url.database or "",
            password=url.password or "",
            socket=url.query.get("unix_socket")
            if isinstance(url.query.get("unix_socket"), str)
            else None,  # type: ignore[arg-type]
        )


def _option_value(value: str) -> str:
    # Option files take quoted values with backslash escapes; quoting keeps `#`, `;` and
    # spaces in a password from being read as a comment or cut short.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@dataclass(frozen=True)
class ClientOptions:
    """Where a client tool reads its `[client]` options: pass `--defaults-file={path}` as its
    first option, and `pass_fds` to subprocess so the descriptor behind the path reaches it."""

    path: str
    pass_fds: tuple[int, ...]


def _option_lines(address: ServerAddress) -> str:
    lines = [
        "[client]",
        f"user={_option_value(address.user)}",
        f"password={_option_value(address.password)}",
    ]
    if address.socket:
        lines.append(f"socket={_option_value(address.socket)}")
    else:
        lines += [f"host={_option_value(address.host)}", f"port={address.port}", "protocol=TCP"]
    return "\n".join(lines) + "\n"


@contextmanager
def client_options(address: ServerAddress) -> Iterator[ClientOptions]:
    """The tool's `[client]` options, held where a crash cannot leave them behind.

    On Linux they live in an anonymous memory file (memfd) that belongs to no file system and
    vanishes with the last process holding it: a server killed with -9 in the middle of a
    backup leaves no password anywhere on disk. The tool opens it as `/dev/fd/N`; mode 0600,
    since the client tools ignore an option file that others may write. Elsewhere, a 0600 file
    in a 0700 folder named with our pid, removed on exit, and by `remove_stale_option_files`
    at the next start if the process died first.
    """
    text = _option_lines(address).encode()
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("lumbung-client", os.MFD_CLOEXEC)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, text)
            yield ClientOptions(f"/dev/fd/{fd}", (fd,))
        finally:
            os.close(fd)
        return
    directory = Path(tempfile.mkdtemp(prefix=f"{STALE_PREFIX}{os.getpid()}-"))  # mode 0700
    path = directory / "client.cnf"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text)
        yield ClientOptions(str(path), ())
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def remove_stale_option_files() -> list[str]:
    """Remove option-file folders left in the temp folder: they hold a password. A folder
    goes when the process named in it is dead, or when it is older than STALE_AFTER_SECONDS
    (a tool reads its options once, as it starts: an older file serves no one). Folders of
    Lumbung before memfd name no process, so only their age tells. Returns what went."""
    removed = []
    now = time.time()
    for folder in Path(tempfile.gettempdir()).glob(f"{STALE_PREFIX}*"):
        pid = folder.name.removeprefix(STALE_PREFIX).split("-", 1)[0]
        try:
            old = now - folder.stat().st_mtime > STALE_AFTER_SECONDS
        except FileNotFoundError:
            continue
        dead = pid.isdigit() and len(pid) < 8 and not pid_alive(int(pid))
        if old or dead:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_environment() -> dict[str, str]:
    """The environment for a client tool: ours, less anything that could carry a password
    or point the tool at another server."""
    blocked = ("MYSQL_PWD", "MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT", "MYSQL_HOME")
    env = {k: v for k, v in os.environ.items() if k not in blocked and not k.startswith("LUMBUNG_")}
    env.pop("DATABASE_PASSWORD", None)
    env.pop("DATABASE_URL", None)
    env["MYSQL_HISTFILE"] = "/dev/null"
    return env
