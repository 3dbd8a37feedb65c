"""What happens outside Lumbung: the password never shows in /proc, hostile table names stay
names, and a backup file restores with the standard tools alone."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from server.backup.adapters.mysql_tools import block_buffered, dies_with_us
from tests.backup.conftest import checksums
from tests.backup.helpers import backup_and_wait, restore_and_wait
from tests.support.app import Api, make_settings, open_api
from tests.support.mariadb import MariaDBServer


class ProcWatcher(threading.Thread):
    """Reads every process's command line and environment, over and over, looking for a secret."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(daemon=True)
        self.secret = secret
        self.hits: list[str] = []
        self.scans = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                for part in ("cmdline", "environ"):
                    try:
                        data = Path(f"/proc/{pid}/{part}").read_bytes()
                    except OSError:
                        continue
                    if self.secret in data:
                        self.hits.append(f"{pid}/{part}")
            self.scans += 1


async def test_the_password_never_appears_in_any_process(rich: Api, mariadb: MariaDBServer) -> None:
    watcher = ProcWatcher(mariadb.password.encode())
    watcher.start()
    try:
        backup = await backup_and_wait(rich, backupType="FULL")
        log = await restore_and_wait(rich, backup)
    finally:
        watcher.stop.set()
        watcher.join()
    assert (backup["status"], log["status"]) == ("COMPLETED", "COMPLETED")
    assert watcher.scans > 10
    assert watcher.hits == []


async def test_a_table_named_like_an_option_is_dumped_as_a_table(
    database: str, tmp_path: Path
) -> None:
    target = Path(f"/tmp/lumbung-pwned-{os.getpid()}")
    name = f"--result-file={target}"
    async with open_api(make_settings(database, tmp_path)) as api:
        async with api.resources.engine.begin() as connection:
            await connection.execute(text(f"CREATE TABLE `{name}` (x INT)"))
            await connection.execute(text(f"INSERT INTO `{name}` VALUES (7)"))
        backup = await backup_and_wait(api, backupType="SELECTIVE", tables=[name])
        assert backup["status"] == "COMPLETED", backup["errorMessage"]
        assert backup["tables"] == [name]
        assert not target.exists()


def _restore_with_standard_tools(
    mariadb: MariaDBServer, tmp_path: Path, file: Path, database: str
) -> None:
    options = mariadb.write_client_option_file(tmp_path / "client.cnf")
    decompress = {".zst": ["zstd", "-dc"], ".gz": ["gzip", "-dc"]}[file.suffix]
    with subprocess.Popen([*decompress, str(file)], stdout=subprocess.PIPE) as source:
        subprocess.run(
            ["mariadb", f"--defaults-file={options}", "--default-character-set=utf8mb4", database],
            stdin=source.stdout,
            check=True,
        )


async def test_zstd_dc_piped_into_mariadb_restores_a_backup(
    rich: Api, mariadb: MariaDBServer, tmp_path: Path
) -> None:
    assert shutil.which("zstd")
    before = await checksums(rich.resources.engine)
    backup = await backup_and_wait(rich, backupType="FULL")
    for compression in ("zstd", "gzip"):
        if compression == "gzip":
            backup = await backup_and_wait(rich, backupType="FULL", compression="GZIP")
        file = rich.settings.backup_dir / backup["filename"]
        head = subprocess.run(
            ["zstd" if compression == "zstd" else "gzip", "-dc", str(file)],
            capture_output=True,
            check=True,
        ).stdout[:200]
        # MariaDB's sandbox line would stop MySQL and older clients at line 1.
        assert not head.startswith(b"/*M!999999")
        assert head.startswith(b"-- MariaDB dump")
        copy = f"copy_{compression}_{os.getpid()}"
        url = mariadb.create_database(copy)
        try:
            _restore_with_standard_tools(
                mariadb, tmp_path, rich.settings.backup_dir / backup["filename"], copy
            )
            engine = create_async_engine(url)
            try:
                assert await checksums(engine) == before
            finally:
                await engine.dispose()
        finally:
            mariadb.drop_database(copy)


def _bytes_out_within(process: subprocess.Popen[bytes], seconds: float) -> int:
    """What a stdio program has written into its stdout pipe after `seconds`."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], seconds)
    return len(os.read(process.stdout.fileno(), 1 << 21)) if ready else 0


def test_the_dump_tool_writes_its_output_in_1_mib_blocks() -> None:
    # mariadb-dump writes through stdio, which fills a pipe 4 KiB at a time: ~250,000 writes
    # and reads per GB. Under block_buffered nothing leaves its buffer before 1 MiB. sed, a
    # stdio program that we can keep waiting for input, shows the difference.
    assert len(block_buffered(["sed"])) > 1, "coreutils' stdbuf should work on Debian"
    # 42,000 bytes in and out: both pipes (64 KiB) hold them whole, so no side waits for the other
    lines = b"".join(b"%06d\n" % i for i in range(6_000))
    seen = {}
    for label, argv in (
        ("plain", ["sed", "-e", ""]),
        ("buffered", block_buffered(["sed", "-e", ""])),
    ):
        with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as process:
            assert process.stdin is not None
            process.stdin.write(lines)
            process.stdin.flush()  # but not closed: sed waits for more
            seen[label] = _bytes_out_within(process, 1.0 if label == "buffered" else 5.0)
            process.stdin.close()
            assert process.stdout is not None
            rest = process.stdout.read()
        assert seen[label] + len(rest) == len(lines)
    assert seen["plain"] >= 4096  # sed wrote some blocks while waiting for input
    assert seen["buffered"] == 0  # all of it still in its 1 MiB buffer


def test_a_tool_dies_with_the_thread_that_started_it() -> None:
    """A job's thread starts the dump or the client and waits for it; should the server die,
    so does the tool (a restore's client would otherwise go on executing what it had read)."""
    assert len(dies_with_us(["sleep"])) > 1, "util-linux's setpriv is in Debian's base system"
    started: list[subprocess.Popen[bytes]] = []

    def job() -> None:
        process = subprocess.Popen(dies_with_us(["sleep", "60"]))
        started.append(process)
        # Like a job's thread, live on until the tool runs (setpriv has exec'd it).
        deadline = time.monotonic() + 10
        while psutil.Process(process.pid).cmdline() != ["sleep", "60"]:
            assert time.monotonic() < deadline, "the tool never started"
            time.sleep(0.01)

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    [process] = started
    try:
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        process.kill()
        process.wait()


async def test_the_dump_never_reads_tablespace_information(
    mariadb: MariaDBServer, tmp_path: Path
) -> None:
    """mysqldump asks INFORMATION_SCHEMA.FILES for tablespaces unless told not to, and MySQL
    5.7.31+ and 8.0.21+ allow that only with the PROCESS privilege, which an application's
    account rarely has: every backup would fail. The tablespaces it dumps are NDB Cluster's."""
    name = f"tsp_{os.getpid()}"
    url = mariadb.create_database(name)
    mariadb.root_sql("SET GLOBAL log_output = 'TABLE'; TRUNCATE mysql.general_log;")
    mariadb.root_sql("SET GLOBAL general_log = 1;")
    try:
        async with open_api(make_settings(url, tmp_path)) as api:
            backup = await backup_and_wait(api, backupType="FULL")
            assert backup["status"] == "COMPLETED", backup["errorMessage"]
    finally:
        mariadb.root_sql("SET GLOBAL general_log = 0;")
        mariadb.drop_database(name)
    seen = mariadb.root_sql(
        "SELECT COUNT(*) FROM mysql.general_log WHERE argument LIKE '%SHOW CREATE TABLE%';\n"
        "SELECT COUNT(*) FROM mysql.general_log WHERE argument LIKE '%INFORMATION_SCHEMA.FILES%';"
    ).split()
    assert int(seen[0]) > 0, "the general log recorded the dump"
    assert seen[1] == "0", "the dump asked for tablespaces"
