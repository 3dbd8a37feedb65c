"""The result of one clear: its items, the totals, the seed's message, and the CacheLog row."""

from __future__ import annotations

from dataclasses import dataclass

from server.cache.request import ClearRequest
from server.cache.results import ItemResult, ItemStatus
from server.db.models import CacheLog
from server.errors import ErrorCode

ACTED = (ItemStatus.CLEARED, ItemStatus.WOULD_CLEAR)


@dataclass(frozen=True)
class ClearOutcome:
    request: ClearRequest
    items: list[ItemResult]
    # This process plus the others that answered the broadcast; None when neither MEMORY nor
    # DATABASE was asked for, so no process-local cache was involved.
    workers_answered: int | None
    duration_ms: int
    log: CacheLog | None = None

    @property
    def failures(self) -> list[ItemResult]:
        return [item for item in self.items if item.status is ItemStatus.FAILED]

    @property
    def total_cleared(self) -> int:
        # Keys removed before a backend failed are gone all the same: they count.
        return sum(item.count or 0 for item in self.items if item.status is not ItemStatus.SKIPPED)

    @property
    def cleared_labels(self) -> list[str]:
        """The seed's `clearedItems`: what was cleared (in a dry run: what would be). What was
        not there to clear stays in `items`, as SKIPPED, with why."""
        return [item.label for item in self.items if item.status in ACTED]

    @property
    def failed_labels(self) -> list[str]:
        return [item.label for item in self.failures]

    @property
    def everything_unavailable(self) -> bool:
        """Nothing was cleared and each failure was a backend being down: an outage, which the
        mutation reports as an error so that no client mistakes it for a success."""
        failures = self.failures
        return (
            bool(failures)
            and not any(item.status in ACTED for item in self.items)
            and all(item.code is ErrorCode.BACKEND_UNAVAILABLE for item in failures)
        )

    @property
    def message(self) -> str:
        total = self.total_cleared
        failures = self.failures
        acted = any(item.status in ACTED for item in self.items)
        names = ", ".join(item.name for item in failures[:3])
        if len(failures) > 3:
            names += f" and {len(failures) - 3} more"
        if failures and not acted:
            return f"Nothing cleared: {names} failed. See failedItems for why."
        if failures:
            start = (
                "Dry run: {} items would be cleared"
                if self.request.dry_run
                else ("Cache partly cleared: {} items")
            )
            return start.format(total) + f", but {names} failed. See failedItems for why."
        if not acted:
            return "Nothing to clear: no cache of this type is configured here (see items)."
        if self.request.dry_run:
            return f"Dry run: {total} items would be cleared; nothing was touched."
        return f"Cache cleared successfully: {total} items."
