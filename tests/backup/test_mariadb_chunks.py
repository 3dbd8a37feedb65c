"""A large table's rows are cut into chunk sections: the file stays one SQL stream that the
standard tools restore, and each chunk is listed and checked on its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from tests.backup.conftest import checksums, fill_bulk
from tests.backup.faults import flip_bit
from tests.backup.helpers import backup_and_wait
from tests.backup.test_mariadb_secrets_and_tools import _restore_with_standard_tools
from tests.support.app import make_settings, open_api
from tests.support.mariadb import MariaDBServer

VERIFY = "mutation ($id: Int!) { verifyBackup(id: $id) { status problems sectionsChecked } }"


async def test_a_large_table_is_backed_up_in_chunks_that_standard_tools_restore(
    database: str, mariadb: MariaDBServer, tmp_path: Path
) -> None:
    async with open_api(make_settings(database, tmp_path, backup_chunk_mib=1)) as api:
        await fill_bulk(api.resources.engine, 8000)  # ~8 MB of SQL: several 1 MiB chunks
        before = await checksums(api.resources.engine)
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "COMPLETED", backup["errorMessage"]
        path = api.settings.backup_dir / backup["filename"]
        manifest = json.loads(Path(f"{path}.manifest.json").read_text())
        chunks = [s for s in manifest["sections"] if s["kind"] == "rows"]
        assert len(chunks) >= 4
        assert {s["table"] for s in chunks} == {"Bulk"}
        assert [s["chunk"] for s in chunks] == list(range(1, len(chunks) + 1))
        [bulk] = [s for s in manifest["sections"] if s["kind"] == "table" and s["table"] == "Bulk"]
        assert bulk["rows"] == 8000  # the table's rows, all chunks together
        assert 0 < sum(s["rows"] for s in chunks) < 8000  # the first rows are in `bulk`
        assert all(s["sha256"] and s["length"] and s["sqlBytes"] for s in chunks)

        copy = f"chunks_{os.getpid()}"
        url = mariadb.create_database(copy)
        try:
            _restore_with_standard_tools(mariadb, tmp_path, path, copy)
            engine = create_async_engine(url)
            try:
                assert await checksums(engine) == before
            finally:
                await engine.dispose()
        finally:
            mariadb.drop_database(copy)

        third = chunks[2]
        flip_bit(path, third["offset"] + third["length"] // 2)
        result = (await api.query(VERIFY, {"id": backup["id"]}))["verifyBackup"]
        assert result["status"] == "CORRUPT"
        assert any("table Bulk, rows chunk 3" in problem for problem in result["problems"])
