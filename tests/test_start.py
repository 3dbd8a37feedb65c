"""Starting the server as a user does, `lumbung serve` as a real process: a start that cannot
work ends in one line naming the cause and a non-zero exit; a start that works says nothing
that is noise."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.db.migrate import MIGRATIONS_DIR
from tests.support.lumbung import start_server
from tests.support.mariadb import MariaDBServer
from tests.support.ports import free_port
from tests.support.tokens import JWT_SECRET

ROOT = Path(__file__).resolve().parents[1]


def serve(
    cwd: Path, env: dict[str, str], port: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`lumbung serve` with only the given LUMBUNG_/DATABASE_ variables; it must end by itself."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LUMBUNG_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "server", "serve", "--port", str(port or free_port())],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def the_one_line(result: subprocess.CompletedProcess[str]) -> str:
    """A refused start prints one line on stderr, and nothing else anywhere."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    assert result.returncode != 0
    return lines[0]


@pytest.fixture
def stopped_mariadb() -> Iterator[tuple[MariaDBServer, str]]:
    """A MariaDB with a database, then stopped: a URL that worked a moment ago."""
    server = MariaDBServer().start()
    try:
        url = server.create_database("app")
        server.stop()
        yield server, url
    finally:
        server.cleanup()


def test_a_wrong_database_password_is_one_line_naming_the_login(
    mariadb: MariaDBServer, tmp_path: Path
) -> None:
    url = mariadb.create_database("wrong_password")
    try:
        wrong = url.replace(mariadb.password, "not-the-password-0")
        result = serve(tmp_path, {"LUMBUNG_DATABASE_URL": wrong})
        line = the_one_line(result)
        assert result.returncode == 1
        assert line == (
            f"lumbung: cannot start: the database at 127.0.0.1:{mariadb.port} refused the login "
            "of user 'lumbung': check the password in LUMBUNG_DATABASE_URL"
        )
        assert "not-the-password" not in result.stderr
    finally:
        mariadb.drop_database("wrong_password")


def test_the_seeds_variables_are_named_when_they_hold_the_wrong_password(
    mariadb: MariaDBServer, tmp_path: Path
) -> None:
    mariadb.create_database("seed_vars")
    try:
        result = serve(
            tmp_path,
            {
                "DATABASE_USER": mariadb.user,
                "DATABASE_PASSWORD": "not-the-password-1",
                "DATABASE_NAME": "seed_vars",
                "DATABASE_PORT": str(mariadb.port),
            },
        )
        assert the_one_line(result).endswith(
            "check the password in DATABASE_USER/DATABASE_PASSWORD"
        )
    finally:
        mariadb.drop_database("seed_vars")


def test_a_stopped_database_is_one_line_naming_its_address(
    stopped_mariadb: tuple[MariaDBServer, str], tmp_path: Path
) -> None:
    server, url = stopped_mariadb
    result = serve(tmp_path, {"LUMBUNG_DATABASE_URL": url})
    assert result.returncode == 1
    assert the_one_line(result) == (
        f"lumbung: cannot start: nothing answers at 127.0.0.1:{server.port}: is the database "
        "running, and does LUMBUNG_DATABASE_URL point at it?"
    )
    assert server.password not in result.stderr


def test_an_unreachable_redis_is_one_line_naming_its_address(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    result = serve(tmp_path, {"LUMBUNG_REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    assert result.returncode == 1
    assert the_one_line(result) == (
        f"lumbung: cannot start: nothing answers at Redis 127.0.0.1:{port}: is it running, and "
        "does LUMBUNG_REDIS_URL point at it?"
    )


def test_production_with_pending_migrations_is_one_line_saying_to_migrate(
    mariadb: MariaDBServer, tmp_path: Path
) -> None:
    url = mariadb.create_database("unmigrated")
    try:
        result = serve(
            tmp_path,
            {
                "LUMBUNG_ENVIRONMENT": "production",
                "LUMBUNG_JWT_SECRET": JWT_SECRET,
                "LUMBUNG_DATABASE_URL": url,
            },
        )
        assert result.returncode == 1
        every = ", ".join(sorted(f.name[:4] for f in MIGRATIONS_DIR.glob("versions/[0-9]*.py")))
        assert the_one_line(result) == (
            f"lumbung: cannot start: the catalog needs migration(s) {every}: run "
            "`lumbung migrate` first"
        )
    finally:
        mariadb.drop_database("unmigrated")


def test_a_busy_port_is_one_line_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = serve(tmp_path, {}, port)
    assert result.returncode == 1
    assert the_one_line(result) == (
        f"lumbung: cannot start: port {port} on 127.0.0.1 is in use by another program: stop "
        f"it, or choose another port (`make run PORT={port + 1}`, or "
        f"`lumbung serve --port {port + 1}`)"
    )


def test_make_run_passes_port_and_host_to_serve() -> None:
    result = subprocess.run(
        ["make", "--dry-run", "--always-make", "run", "PORT=8123", "HOST=0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert ".venv/bin/lumbung serve --host 0.0.0.0 --port 8123" in result.stdout


def test_a_start_logs_no_alembic_plugin_lines(tmp_path: Path) -> None:
    server = start_server(tmp_path, {"LUMBUNG_JWT_SECRET": JWT_SECRET})
    try:
        output = server.output()
    finally:
        server.stop()
    assert "lumbung ready" in output
    assert "alembic" not in output, output
    assert '"event": "catalog.migrated"' in output  # the migration itself is still told, once


def test_a_server_run_by_uvicorn_itself_logs_the_cause_in_one_line(tmp_path: Path) -> None:
    """Started without `lumbung serve` (no checks first), the lifespan names the cause."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LUMBUNG_", "DATABASE_"))}
    uvicorn = [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory"]
    result = subprocess.run(
        [*uvicorn, "--port", str(free_port())],
        cwd=tmp_path,
        env={**clean, "LUMBUNG_REDIS_URL": f"redis://127.0.0.1:{port}/0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert (
        f"Lumbung cannot start: nothing answers at Redis 127.0.0.1:{port}: is it running"
        in result.stderr
    )
