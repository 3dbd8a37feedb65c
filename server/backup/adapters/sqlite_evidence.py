"""Evidence for SQLite (see server/backup/evidence.py), measured in the dump's own read
transaction: each table's rows as SQLite returns them (typed values, not the dump's SQL
literals), hashed one by one and summed, so the order rows come back in does not matter."""

from __future__ import annotations

import hashlib
import sqlite3

from server.backup.evidence import Evidence, fingerprint, object_key

METHOD = "sqlite-row-hash"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def checksum(connection: sqlite3.Connection, table: str) -> str:
    """`<rows>:<sum of the rows' 64-bit hashes>`; each row hashed from the repr of its values
    (ints, floats, str, bytes, None: all with an exact, stable repr)."""
    total = count = 0
    for row in connection.execute(f"SELECT * FROM {_quote(table)}"):  # noqa: S608 - quoted name
        digest = hashlib.blake2b(repr(row).encode("utf-8", "surrogatepass"), digest_size=8)
        total = (total + int.from_bytes(digest.digest(), "big")) % 2**64
        count += 1
    return f"{count}:{total:016x}"


def definitions(
    connection: sqlite3.Connection, tables: list[str], *, objects: bool
) -> dict[str, str]:
    wanted = set(tables)
    found: dict[str, str] = {}
    rows = connection.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"
    ).fetchall()
    for kind, name, owner, sql in rows:
        if (kind in ("table", "index", "trigger") and owner in wanted) or (
            objects and kind == "view"
        ):
            found[object_key(str(kind), str(name))] = fingerprint(str(sql))
    return found


def measure(
    connection: sqlite3.Connection, tables: list[str], *, data: bool, objects: bool
) -> Evidence:
    existing = {
        str(row[0])
        for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    rows = {
        t: int(connection.execute(f"SELECT COUNT(*) FROM {_quote(t)}").fetchone()[0])  # noqa: S608
        for t in tables
        if data and t in existing
    }
    return Evidence(
        method=METHOD,
        tables={t: checksum(connection, t) if data and t in existing else None for t in tables},
        definitions=definitions(connection, tables, objects=objects),
        rows=rows,
    )
