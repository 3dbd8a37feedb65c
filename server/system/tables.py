"""The tables of the target database, as offered for backup."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.migrate import LUMBUNG_TABLES


@dataclass(frozen=True)
class TableInfo:
    name: str
    kind: str  # "TABLE" or "VIEW"
    engine: str | None
    estimated_rows: int | None
    data_bytes: int | None
    index_bytes: int | None
    is_core: bool
    is_catalog: bool


async def list_tables(
    session: AsyncSession, core_tables: list[str], *, include_catalog: bool = False
) -> list[TableInfo]:
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        rows = await _sqlite_tables(session)
    else:
        rows = await _mysql_tables(session)
    core = set(core_tables)
    tables = [
        TableInfo(
            name=name,
            kind=kind,
            engine=engine,
            estimated_rows=rows_,
            data_bytes=data,
            index_bytes=index,
            is_core=name in core,
            is_catalog=name in LUMBUNG_TABLES,
        )
        for name, kind, engine, rows_, data, index in rows
    ]
    if not include_catalog:
        tables = [t for t in tables if not t.is_catalog]
    return tables


Row = tuple[str, str, str | None, int | None, int | None, int | None]


async def _mysql_tables(session: AsyncSession) -> list[Row]:
    # TABLE_ROWS is InnoDB's estimate: exact counts would scan every table on every call.
    result = await session.execute(
        text(
            "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH "
            "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            "ORDER BY TABLE_NAME"
        )
    )
    return [
        (
            str(name),
            "VIEW" if table_type == "VIEW" else "TABLE",
            engine,
            None if table_rows is None else int(table_rows),
            None if data is None else int(data),
            None if index is None else int(index),
        )
        for name, table_type, engine, table_rows, data, index in result.all()
    ]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _sqlite_tables(session: AsyncSession) -> list[Row]:
    result = await session.execute(
        text(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    )
    entries = [(str(name), str(kind)) for name, kind in result.all()]
    sizes = await _sqlite_sizes(session)
    rows: list[Row] = []
    for name, kind in entries:
        count = None
        if kind == "table":
            # SQLite keeps no row estimate; the embedded database is small enough to count.
            count = int(await session.scalar(text(f"SELECT COUNT(*) FROM {_quote(name)}")) or 0)  # noqa: S608 - name comes from sqlite_master and is quoted
        data, index = sizes.get(name, (None, None))
        rows.append(
            (
                name,
                "VIEW" if kind == "view" else "TABLE",
                "SQLite" if kind == "table" else None,
                count,
                data,
                index,
            )
        )
    return rows


async def _sqlite_sizes(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """Bytes of each table and of its indexes, from the `dbstat` virtual table when compiled in."""
    try:
        result = await session.execute(
            text(
                "SELECT m.tbl_name, m.type, SUM(s.pgsize) FROM dbstat AS s "
                "JOIN sqlite_master AS m ON m.name = s.name GROUP BY m.tbl_name, m.type"
            )
        )
    except OperationalError:
        return {}
    sizes: dict[str, tuple[int, int]] = {}
    for table_name, kind, size in result.all():
        data, index = sizes.get(table_name, (0, 0))
        if kind == "index":
            index += int(size or 0)
        else:
            data += int(size or 0)
        sizes[table_name] = (data, index)
    return sizes
