"""Database credentials for the client tools, in a 0600 option file: never in argv (visible in
`ps` and /proc/*/cmdline), never in a child's environment (visible in /proc/*/environ)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL


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


@contextmanager
def option_file(address: ServerAddress) -> Iterator[Path]:
    """A `[client]` option file readable by this user only, removed on exit.

    Pass it as `--defaults-file=PATH`, the first option, so that no other option file
    (`/etc/mysql/my.cnf`, `~/.my.cnf`) can redirect the tool elsewhere.
    """
    directory = Path(tempfile.mkdtemp(prefix="lumbung-client-"))  # mode 0700
    path = directory / "client.cnf"
    lines = [
        "[client]",
        f"user={_option_value(address.user)}",
        f"password={_option_value(address.password)}",
    ]
    if address.socket:
        lines.append(f"socket={_option_value(address.socket)}")
    else:
        lines += [f"host={_option_value(address.host)}", f"port={address.port}", "protocol=TCP"]
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def child_environment() -> dict[str, str]:
    """The environment for a client tool: ours, less anything that could carry a password
    or point the tool at another server."""
    blocked = ("MYSQL_PWD", "MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT", "MYSQL_HOME")
    env = {k: v for k, v in os.environ.items() if k not in blocked and not k.startswith("LUMBUNG_")}
    env.pop("DATABASE_PASSWORD", None)
    env.pop("DATABASE_URL", None)
    env["MYSQL_HISTFILE"] = "/dev/null"
    return env
