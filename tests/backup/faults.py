"""Tools for fault tests: find the processes a job runs, damage files, wait for phases."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import zstandard
from sqlalchemy import update

from server.db import models
from tests.support.app import Api
from tests.support.waiting import wait_until


def child(name: str) -> psutil.Process | None:
    for process in psutil.Process().children(recursive=True):
        try:
            if process.name() == name or Path(process.exe()).name == name:
                return process
        except psutil.Error:
            continue
    return None


async def wait_for_phase(api: Api, job_id: str, phase: str, min_bytes: int = 1) -> None:
    async def reached() -> bool | None:
        event = await api.resources.progress.latest(job_id)
        if event is not None and event.final:
            raise AssertionError(f"{job_id} ended before {phase}: {event.message}")
        ok = event is not None and event.phase == phase and event.bytes_done >= min_bytes
        return True if ok else None

    await wait_until(reached, timeout=60, what=f"{job_id} to reach {phase}")


async def wait_for_child(name: str, timeout: float = 30) -> psutil.Process:
    async def found() -> psutil.Process | None:
        return child(name)

    return await wait_until(found, timeout, interval=0.01, what=f"a {name} process")


async def wait_for_loading_client(min_bytes: int = 1 << 20, timeout: float = 60) -> psutil.Process:
    """A `mariadb` client of ours that is loading rows: running, and past `min_bytes` of its
    input. A restore runs several clients, one after another and at once (the first only
    creates the tables, and is gone in a moment): this is one still at work."""

    def loaded(process: psutil.Process) -> bool:
        try:
            return process.is_running() and process.io_counters().read_chars >= min_bytes
        except psutil.Error:
            return False

    async def found() -> psutil.Process | None:
        clients = [p for p in psutil.Process().children(recursive=True) if _named(p, "mariadb")]
        return next((p for p in clients if loaded(p)), None)

    return await wait_until(found, timeout, interval=0.01, what="a mariadb client loading rows")


def _named(process: psutil.Process, name: str) -> bool:
    try:
        return process.name() == name or Path(process.exe()).name == name
    except psutil.Error:
        return False


async def wait_for_no_child(name: str, timeout: float = 30) -> None:
    """Until no child process of ours is called `name` (e.g. a tool has died of its lost
    connection)."""

    async def gone() -> bool | None:
        return True if child(name) is None else None

    await wait_until(gone, timeout, interval=0.01, what=f"every {name} process to exit")


async def wait_for_bytes_read(process: psutil.Process, count: int, timeout: float = 60) -> None:
    """Until `process` has read `count` bytes (its rchar: a client fed on stdin has taken in
    that much of its input)."""

    async def read() -> bool | None:
        return True if process.io_counters().read_chars >= count else None

    await wait_until(read, timeout, interval=0.01, what=f"{process.name()} to read {count} bytes")


def flip_bit(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x10]))


async def rewrite_section(api: Api, backup: dict[str, Any], table: str, sql_suffix: bytes) -> None:
    """Append SQL to one table's section and re-seal the file as if the dump had produced it:
    checksums, manifest and catalog all agree, so only the database can object to it."""
    await reseal(api, backup, table, lambda sql: sql + sql_suffix)


async def reseal(
    api: Api,
    backup: dict[str, Any],
    table: str,
    change: Callable[[bytes], bytes],
    *,
    chunk: int | None = None,
) -> None:
    """Change one table's SQL in a backup file and re-seal it as if the dump tool had written
    it so (a buggy tool, a wrong character set): every section's checksum, the file's, the
    manifest's size and the catalog's checksum agree with the new bytes. With `chunk`, that
    chunk section of the table's rows changes instead."""
    folder = api.settings.backup_dir
    path = folder / backup["filename"]
    manifest_path = folder / (backup["filename"] + ".manifest.json")
    manifest = json.loads(manifest_path.read_text())
    data = path.read_bytes()
    out = bytearray()
    for section in sorted(manifest["sections"], key=lambda s: s["offset"]):
        frame = data[section["offset"] : section["offset"] + section["length"]]
        kind = "table" if chunk is None else "rows"
        if (section["kind"], section["table"], section.get("chunk")) == (kind, table, chunk):
            sql = change(zstandard.ZstdDecompressor().decompressobj().decompress(frame))
            frame = zstandard.ZstdCompressor().compress(sql)
        section["offset"], section["length"] = len(out), len(frame)
        section["sha256"] = hashlib.sha256(frame).hexdigest()
        out += frame
    manifest["size"], manifest["sha256"] = len(out), hashlib.sha256(out).hexdigest()
    path.write_bytes(bytes(out))
    manifest_path.write_text(json.dumps(manifest))
    async with api.resources.engine.begin() as connection:
        await connection.execute(
            update(models.Backup)
            .where(models.Backup.id == backup["id"])
            .values(checksum=manifest["sha256"], file_size=len(out)),
        )
