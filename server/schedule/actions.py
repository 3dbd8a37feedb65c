"""What a schedule runs, as the catalog stores it: the createBackup or clearCache input, in the
API's own field names and enum values, in the schedule's `options` column. A request is
checked by the same code as the mutation's (plan.py, cache/request.py) when the schedule is
saved, and again when it runs: a table dropped since is that run's error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.backup.plan import BackupRequest, checked_description
from server.cache.keys import KeyMatch
from server.cache.request import ClearRequest, build_request
from server.db.enums import BackupType, CacheType, Compression, ScheduleAction
from server.errors import BadUserInput


@dataclass(frozen=True)
class ScheduledAction:
    """A backup request or a clear request: exactly one is set."""

    backup: BackupRequest | None = None
    clear: ClearRequest | None = None

    def __post_init__(self) -> None:
        if (self.backup is None) == (self.clear is None):
            raise BadUserInput(
                "Say what the schedule runs: give `backup` (as createBackup's input) or "
                "`clearCache` (as clearCache's input), exactly one of them."
            )

    @property
    def kind(self) -> ScheduleAction:
        return ScheduleAction.BACKUP if self.backup is not None else ScheduleAction.CLEAR_CACHE

    def options(self) -> dict[str, Any]:
        if self.backup is not None:
            return backup_options(self.backup)
        assert self.clear is not None
        return clear_options(self.clear)


def backup_options(request: BackupRequest) -> dict[str, Any]:
    checked_description(request.description)
    return {
        "backupType": request.backup_type.name,
        "tables": request.tables,
        "includeSchema": request.include_schema,
        "includeData": request.include_data,
        "description": request.description,
        "compression": request.compression.name if request.compression else None,
        "includeCatalog": request.include_catalog,
    }


def clear_options(request: ClearRequest) -> dict[str, Any]:
    return {
        "cacheType": request.cache_type.name,
        "specificKeys": list(request.selection.keys),
        "keyMatch": request.selection.match.name,
        "olderThanMinutes": request.older_than_minutes,
        "dryRun": request.dry_run,
        "description": request.description,
    }


def stored_action(kind: ScheduleAction, options: dict[str, Any]) -> ScheduledAction:
    """The action of a stored schedule, rebuilt through the same checks."""
    if kind is ScheduleAction.BACKUP:
        compression = options.get("compression")
        return ScheduledAction(
            backup=BackupRequest(
                backup_type=BackupType[options["backupType"]],
                tables=options.get("tables"),
                include_schema=bool(options.get("includeSchema", True)),
                include_data=bool(options.get("includeData", True)),
                description=options.get("description"),
                compression=Compression[compression] if compression else None,
                include_catalog=bool(options.get("includeCatalog", False)),
            )
        )
    return ScheduledAction(
        clear=build_request(
            cache_type=CacheType[options["cacheType"]],
            specific_keys=options.get("specificKeys") or None,
            key_match=KeyMatch[options.get("keyMatch", "EXACT")],
            dry_run=bool(options.get("dryRun", False)),
            description=options.get("description"),
            older_than_minutes=options.get("olderThanMinutes"),
        )
    )
