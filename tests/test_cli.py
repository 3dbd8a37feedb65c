"""The `lumbung` command, run as a user runs it: a real process, a real server on 127.0.0.1."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from tests.support.graphql import post_blocking
from tests.support.lumbung import start_server
from tests.support.mariadb import MariaDBServer

LUMBUNG = [sys.executable, "-m", "server"]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LUMBUNG, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_token_prints_only_a_token_that_verifies(tmp_path: Path) -> None:
    result = run("token", "--sub", "1", "--role", "admin", "--ttl", "1h", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    secret = (tmp_path / "data" / "jwt-secret").read_text().strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["sub"] == "1" and claims["role"] == "admin"
    assert 3590 <= claims["exp"] - claims["iat"] <= 3600


def test_token_refuses_a_bad_ttl(tmp_path: Path) -> None:
    result = run("token", "--sub", "1", "--ttl", "soon", cwd=tmp_path)
    assert result.returncode == 2
    assert "e.g. 1h or 30m" in result.stderr
    assert result.stdout == ""


def test_production_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    result = run(
        "serve",
        cwd=tmp_path,
        env={"LUMBUNG_ENVIRONMENT": "production", "DATABASE_PASSWORD": "hunter2-secret"},
    )
    assert result.returncode == 2
    assert "LUMBUNG_JWT_SECRET must be set" in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_migrate_creates_the_catalog(tmp_path: Path) -> None:
    env = {"LUMBUNG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"}
    first = run("migrate", cwd=tmp_path, env=env)
    again = run("migrate", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "applied: 0001" in first.stderr
    assert "the catalog is up to date" in again.stderr


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`lumbung serve` with no configuration at all, as README's first command runs it."""
    server = start_server(tmp_path)
    try:
        output = server.output()
        match = re.search(r'"Authorization": "Bearer ([\w.-]+)"', output)
        assert match, output
        assert f"http://localhost:{server.port}/graphql" in output
        yield server.base, match.group(1)
    finally:
        server.stop()


def test_serve_with_no_configuration_answers_every_query_with_the_printed_token(
    served: tuple[str, str],
) -> None:
    base, token = served
    body = post_blocking(
        base,
        token,
        """{ me { subject isAdmin } tables { name } backups { total } restoreLogs { total }
            cacheLogs { total } systemInfo { database { version totalUsers totalMessages } } }""",
    )
    assert "errors" not in body, body
    data = body["data"]
    assert data["me"] == {"subject": "1", "isAdmin": True}
    assert {t["name"] for t in data["tables"]} == {"User", "Role", "Permission", "Message"}
    assert data["systemInfo"]["database"]["version"].startswith("SQLite ")
    assert data["systemInfo"]["database"]["totalUsers"] == 6
    request = urllib.request.Request(f"{base}/graphql", headers={"Accept": "text/html"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as page:  # noqa: S310
        assert "graphiql" in page.read().decode().lower()


def test_backup_verify_and_restore_from_the_command_line(tmp_path: Path) -> None:
    backup = run("backup", "--type", "selective", "--table", "User", "--quiet", cwd=tmp_path)
    assert backup.returncode == 0, backup.stderr
    filename = backup.stdout.strip()
    assert re.fullmatch(r"backup_selective_[\dT-]+\.sql\.zst", filename)
    assert (tmp_path / "backups" / filename).stat().st_size > 0

    verified = run("verify", "1", cwd=tmp_path)
    assert (verified.returncode, verified.stdout) == (0, f"OK {filename}\n")

    refused = run("restore", "1", "--confirm", "backup.sql", cwd=tmp_path)
    assert refused.returncode == 2
    assert filename in refused.stderr

    restored = run("restore", "1", "--confirm", filename, "--quiet", cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "completed" in restored.stderr


def test_backup_refuses_an_unknown_table(tmp_path: Path) -> None:
    result = run("backup", "--type", "selective", "--table", "Nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "Unknown table(s): 'Nope'" in result.stderr
    assert result.stdout == ""


@pytest.fixture
def stopped_database(tmp_path: Path) -> Iterator[tuple[MariaDBServer, dict[str, str]]]:
    """A MariaDB that held a database a moment ago, now stopped."""
    server = MariaDBServer().start()
    try:
        env = {"LUMBUNG_DATABASE_URL": server.create_database("gone")}
        server.stop()
        yield server, env
    finally:
        server.cleanup()


@pytest.mark.parametrize(
    "command", [["backup", "--quiet"], ["verify", "1"], ["migrate"], ["backups"], ["restores"]]
)
def test_a_stopped_database_is_one_line_not_a_traceback(
    stopped_database: tuple[MariaDBServer, dict[str, str]], command: list[str], tmp_path: Path
) -> None:
    server, env = stopped_database
    result = run(*command, cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"lumbung: nothing answers at 127.0.0.1:{server.port}: is the database running, and "
        "does LUMBUNG_DATABASE_URL point at it?"
    ]
    assert server.password not in result.stderr + result.stdout


def test_debug_prints_the_traceback_before_the_line(
    stopped_database: tuple[MariaDBServer, dict[str, str]], tmp_path: Path
) -> None:
    server, env = stopped_database
    result = run("--debug", "verify", "1", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.splitlines()[-1].startswith(
        f"lumbung: nothing answers at 127.0.0.1:{server.port}"
    )


def test_backups_and_restores_list_the_history_as_the_api_does(tmp_path: Path) -> None:
    for table in ("User", "Role"):
        made = run("backup", "--type", "selective", "--table", table, "--quiet", cwd=tmp_path)
        assert made.returncode == 0, made.stderr
    first = run("backups", "--type", "selective", "--limit", "1", "--page", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    header, row = first.stdout.splitlines()
    assert header.split() == ["ID", "CREATED", "(UTC)", "TYPE", "STATUS", "ORIGIN", "SIZE", "FILE"]
    assert row.split()[0] == "1"  # newest first: page 2 of 1 a page is the older one
    assert row.split()[3:6] == ["selective", "completed", "manual"]
    assert re.search(r"backup_selective_[\dT-]+\.sql\.zst$", row)
    assert first.stderr == "page 2 of 2, 2 backups\n"

    filename = row.split()[-1]
    restored = run("restore", "1", "--confirm", filename, "--quiet", cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr

    everything = run("backups", cwd=tmp_path)
    ids = [line.split()[0] for line in everything.stdout.splitlines()[1:]]
    assert ids == ["3", "2", "1"]  # the restore's safety backup is the newest
    assert everything.stdout.splitlines()[1].split()[5] == "safety"
    assert run("backups", "--status", "failed", cwd=tmp_path).stderr == "no backups\n"

    restores = run("restores", "--backup", "1", cwd=tmp_path)
    assert restores.returncode == 0, restores.stderr
    header, row = restores.stdout.splitlines()
    assert header.split()[:4] == ["ID", "STARTED", "(UTC)", "BACKUP"]
    assert row.split()[0] == "1" and row.split()[3:5] == ["1", "completed"]
    assert row.split()[-2:] == ["3", "User"]  # its safety backup, and the table it restored
    assert row == row.rstrip()
    assert restores.stderr == "page 1 of 1, 1 restore\n"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["backups", "--limit", "101"], "limit must be between 1 and 100 (got 101)"),
        (["backups", "--page", "0"], "page must be 1 or more (got 0)"),
        (["backups", "--type", "weekly"], "--type takes full, partial or selective"),
        (["restores", "--backup", "42"], "No backup has id 42"),
    ],
)
def test_history_listings_refuse_what_the_api_refuses(
    args: list[str], complaint: str, tmp_path: Path
) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert complaint in result.stderr
    assert result.stdout == ""
