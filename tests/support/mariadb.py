"""A private, throwaway MariaDB server.

It lives in its own temporary folder, listens only on 127.0.0.1 on a free port and never reads
the machine's configuration (/etc/mysql, ~/.my.cnf), so a server already running on the
machine is left alone.

    with MariaDBServer() as db:
        url = db.create_database("lumbung_test")
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote_plus

from tests.support.binaries import binary
from tests.support.children import child_env
from tests.support.files import read_from, write_private
from tests.support.managed import ManagedServer

# Unix socket paths are limited to 108 bytes (sun_path, with its NUL); MariaDB refuses longer
# ones, so sockets go under a short folder directly in /tmp. Spelled in parts: ruff's S108
# guards against predictable names in /tmp, and mkdtemp() gives unpredictable ones; $TMPDIR is
# not used as it may be long.
SHORT_TMP = Path("/", "tmp")
_MAX_SOCKET_PATH = 100
_READY_TIMEOUT = 30.0

_DB_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _option_value(value: str) -> str:
    """Quote a value for a MariaDB option file."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _sql_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _check_db_name(name: str) -> str:
    # Restricting names keeps them safe both as SQL identifiers and in URLs.
    if not _DB_NAME.fullmatch(name):
        raise ValueError(f"database name must match {_DB_NAME.pattern}: {name!r}")
    return name


class MariaDBServer(ManagedServer):
    """A private mariadbd with a password user for TCP and root via its socket."""

    kind = "MariaDB"

    def __init__(self, base_dir: Path | None = None) -> None:
        parent = Path(base_dir) if base_dir is not None else SHORT_TMP
        parent.mkdir(parents=True, exist_ok=True)
        super().__init__(Path(tempfile.mkdtemp(prefix="lb-", dir=parent)), owned=True)
        self.user = "lumbung"
        self.password = secrets.token_urlsafe(24)
        self.datadir = self.tmp_dir / "data"
        self.error_log = self.tmp_dir / "error.log"
        self._socket_dir = self._choose_socket_dir()
        self.socket_path = str(self._socket_dir / "mysqld.sock")
        # Root logs in through unix_socket auth, which maps to the OS user; install-db grants
        # that login to this name.
        self._admin = pwd.getpwuid(os.geteuid()).pw_name

    def _choose_socket_dir(self) -> Path:
        if len(str(self.tmp_dir / "mysqld.sock").encode()) <= _MAX_SOCKET_PATH:
            return self.tmp_dir
        return Path(tempfile.mkdtemp(prefix="lb-", dir=SHORT_TMP))

    # -- lifecycle (start() comes from the base class)
    def _prepare(self) -> None:
        """Create the system tables, unless an earlier start already did."""
        if (self.datadir / "mysql").is_dir():
            return
        shutil.rmtree(self.datadir, ignore_errors=True)  # a half-made one from a failed try
        log = self.tmp_dir / "install.log"
        argv = [
            binary("mariadb-install-db"),
            "--no-defaults",
            *self._user_option(),
            f"--auth-root-socket-user={self._admin}",
            f"--datadir={self.datadir}",
            "--skip-test-db",
            "--auth-root-authentication-method=socket",
        ]
        with log.open("ab") as output:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=child_env(),
                check=False,
                timeout=300,
            )
        if result.returncode != 0:
            raise RuntimeError(
                f"mariadb-install-db failed with code {result.returncode}\n"
                f"--- tail of {log} ---\n{read_from(log, 0)}"
            )

    @staticmethod
    def _user_option() -> list[str]:
        # mariadbd refuses to run as root unless told to; as anyone else the option only earns
        # a warning, so leave it out.
        return ["--user=root"] if os.geteuid() == 0 else []

    def _command(self) -> list[str]:
        return [
            binary("mariadbd"),
            "--no-defaults",  # must be first, or /etc/mysql/my.cnf is read
            *self._user_option(),
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.tmp_dir / 'mariadbd.pid'}",
            f"--log-error={self.error_log}",
            "--innodb-buffer-pool-size=128M",
            "--innodb-flush-log-at-trx-commit=2",  # durability is not what tests measure
            "--max-allowed-packet=1G",  # tests move rows larger than 16 MiB
            "--max-connections=500",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ]

    def _startup_log(self) -> Path:
        return self.error_log

    def _wait_ready(self, start: float) -> None:
        self._poll_ready(start, _READY_TIMEOUT, self._ping, what="answer to ping")

    def _ping(self) -> bool:
        argv = [
            binary("mariadb-admin"),
            "--no-defaults",
            f"--socket={self.socket_path}",
            f"--user={self._admin}",
            "--connect-timeout=2",
            "ping",
        ]
        try:
            result = subprocess.run(
                argv, capture_output=True, env=child_env(), check=False, timeout=10
            )
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    def _after_ready(self) -> None:
        # '%' also matches socket logins (host "localhost"); the server only listens on
        # 127.0.0.1, so nobody else can reach it. ALTER keeps the password right if the datadir
        # came from an earlier run.
        user = f"{_sql_string(self.user)}@'%'"
        password = _sql_string(self.password)
        self.root_sql(
            f"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY {password};\n"
            f"ALTER USER {user} IDENTIFIED BY {password};\n"
            f"GRANT ALL PRIVILEGES ON *.* TO {user} WITH GRANT OPTION;\n"
        )

    def _remove_files(self) -> None:
        super()._remove_files()
        if self._socket_dir != self.tmp_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    # -- SQL and URLs
    def root_sql(self, sql: str, database: str | None = None, *, timeout: float = 600) -> str:
        """Run SQL (sent on stdin) as root over the socket; return the client's stdout."""
        if not self.running:
            raise RuntimeError("MariaDB server is not running")
        argv = [
            binary("mariadb"),
            "--no-defaults",  # must be first, or my.cnf points the client at the system socket
            f"--socket={self.socket_path}",
            f"--user={self._admin}",
            "--default-character-set=utf8mb4",
            "--max-allowed-packet=1G",
            "--batch",
            "--skip-column-names",
        ]
        if database is not None:
            argv.append(f"--database={database}")
        result = subprocess.run(
            argv,
            input=sql.encode("utf-8"),
            capture_output=True,
            env=child_env(),
            check=False,
            timeout=timeout,
        )
        if result.returncode != 0:
            stderr = result.stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(f"mariadb client failed with code {result.returncode}: {stderr}")
        return result.stdout.decode("utf-8", "replace")

    def create_database(self, name: str) -> str:
        """Create an empty utf8mb4 database and return its SQLAlchemy URL."""
        ident = _sql_ident(_check_db_name(name))
        # The collation is explicit: CHARACTER SET alone would give the charset's default
        # (utf8mb4_general_ci), not the server's collation.
        self.root_sql(f"CREATE DATABASE {ident} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.root_sql(f"DROP DATABASE IF EXISTS {_sql_ident(_check_db_name(name))};")

    def url(self, database: str) -> str:
        """SQLAlchemy URL for the password user over TCP."""
        return (
            f"mysql+aiomysql://{quote_plus(self.user)}:{quote_plus(self.password)}"
            f"@{self.host}:{self.port}/{_check_db_name(database)}?charset=utf8mb4"
        )

    def write_client_option_file(self, path: Path, database: str | None = None) -> Path:
        """Write a 0600 option file for mariadb / mariadb-dump over TCP.

        Use it as the FIRST option: `--defaults-file=PATH` (it replaces --no-defaults, which
        cannot be combined with it).
        """
        lines = [
            "[client]",
            f"user={_option_value(self.user)}",
            f"password={_option_value(self.password)}",
            f"host={_option_value(self.host)}",
            f"port={self.port}",
            "protocol=TCP",
            "default-character-set=utf8mb4",
        ]
        if database is not None:
            # Only the mariadb command-line client knows `database`; in [client] it would make
            # mariadb-dump stop with "unknown variable".
            lines += ["", "[mysql]", f"database={_option_value(_check_db_name(database))}"]
        path = Path(path)
        write_private(path, "\n".join(lines) + "\n")
        return path
