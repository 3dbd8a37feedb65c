"""Every schema object of a MariaDB database as SHOW CREATE describes it, to compare a
database before and after a restore that was rolled back."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# SHOW CREATE <kind> columns that describe the object (not when it was created).
_COLUMNS = {
    "TABLE": (1,),
    "VIEW": (1, 2, 3),
    "TRIGGER": (1, 2, 3, 4, 5),  # sql_mode, statement, character sets; not `Created`
    "PROCEDURE": (1, 2, 3, 4, 5),
    "FUNCTION": (1, 2, 3, 4, 5),
    "EVENT": (1, 2, 3, 4, 5, 6),
}
CATALOG = ("Backup", "RestoreLog", "CacheLog", "lumbung_alembic_version")


async def schema_state(engine: AsyncEngine) -> dict[str, tuple[object, ...]]:
    """`KIND name` -> what SHOW CREATE says, for every object but Lumbung's catalog; triggers
    also carry their firing order."""
    async with engine.connect() as connection:
        names = await connection.execute(
            text(
                "SELECT IF(TABLE_TYPE = 'VIEW', 'VIEW', 'TABLE'), TABLE_NAME, 0 "
                "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                "UNION ALL SELECT 'TRIGGER', TRIGGER_NAME, ACTION_ORDER "
                "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
                "UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME, 0 "
                "FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() "
                "UNION ALL SELECT 'EVENT', EVENT_NAME, 0 "
                "FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()"
            )
        )
        state: dict[str, tuple[object, ...]] = {}
        for kind, name, order in names.all():
            if kind == "TABLE" and name in CATALOG:
                continue
            quoted = "`" + str(name).replace("`", "``") + "`"
            row = (await connection.execute(text(f"SHOW CREATE {kind} {quoted}"))).one()
            state[f"{kind} {name}"] = (order, *(row[i] for i in _COLUMNS[kind]))
        return state
