"""What a backup request asks for, checked before anything starts: the tables against the
database's real table list, the options against each other, the description's length, and
the free space against an estimate (space.py)."""

from __future__ import annotations

from dataclasses import dataclass

from server.backup.adapters.base import DatabaseAdapter, DumpPlan
from server.db.enums import BackupType, Compression
from server.db.migrate import LUMBUNG_TABLES
from server.errors import BadUserInput

MAX_DESCRIPTION = 191
MAX_NAMES_SHOWN = 5
# Lumbung's own tables: never overwritten by a restore, left out of a FULL dump.
CATALOG_TABLES = sorted(LUMBUNG_TABLES)


@dataclass(frozen=True)
class BackupRequest:
    backup_type: BackupType
    tables: list[str] | None = None
    include_schema: bool = True
    include_data: bool = True
    description: str | None = None
    compression: Compression | None = None
    include_catalog: bool = False


def shown_names(names: list[str]) -> str:
    """A few names, quoted and clipped, for a message: `'a', 'b' and 3 more`."""
    shown = [repr(n if len(n) <= 64 else n[:64] + "...") for n in names[:MAX_NAMES_SHOWN]]
    more = len(names) - MAX_NAMES_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def checked_description(text: str | None) -> str | None:
    if text is not None and len(text) > MAX_DESCRIPTION:
        raise BadUserInput(f"description is {len(text)} characters; at most {MAX_DESCRIPTION} fit.")
    return text


async def plan_dump(
    request: BackupRequest, adapter: DatabaseAdapter, core_tables: list[str]
) -> DumpPlan:
    """The dump a request asks for, or BadUserInput saying what is wrong with it."""
    if not (request.include_schema or request.include_data):
        raise BadUserInput("includeSchema and includeData are both false: nothing to back up.")
    real = await adapter.table_names()
    if request.backup_type is BackupType.FULL:
        if request.tables:
            raise BadUserInput("A FULL backup takes every table; use SELECTIVE to choose tables.")
        exclude = [] if request.include_catalog else sorted(set(CATALOG_TABLES) & set(real))
        tables = [t for t in real if t not in exclude]
        return DumpPlan(True, tables, exclude, request.include_schema, request.include_data)
    if request.backup_type is BackupType.PARTIAL:
        if request.tables:
            raise BadUserInput(
                "A PARTIAL backup takes the core tables (LUMBUNG_CORE_TABLES); "
                "use SELECTIVE to choose tables."
            )
        wanted = list(core_tables)
    else:
        if not request.tables:
            raise BadUserInput(
                "A SELECTIVE backup needs `tables`: pick them from the `tables` query."
            )
        wanted = list(dict.fromkeys(request.tables))
    unknown = [t for t in wanted if t not in real]
    if unknown:
        raise BadUserInput(
            f"Unknown table(s): {shown_names(unknown)}. Table names are exact and "
            "case-sensitive; list them with the `tables` query."
        )
    return DumpPlan(False, wanted, [], request.include_schema, request.include_data)
