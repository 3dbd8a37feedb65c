"""A progress event: where a job stands at one moment, as every follower receives it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from server.db.enums import JobStatus


@dataclass(frozen=True)
class ProgressEvent:
    job_id: str  # "backup:12" or "restore:7"
    sequence: int
    status: JobStatus
    phase: str
    percent: float
    bytes_done: int
    bytes_total: int | None
    tables_done: int
    tables_total: int
    current_table: str | None
    elapsed_seconds: float
    eta_seconds: float | None
    message: str | None
    emitted_at: float = 0.0  # Unix time of publication
    overall_percent: float = 0.0  # of the whole job; never goes back (percent is per phase)

    @property
    def final(self) -> bool:
        return self.status.final

    def to_json(self) -> str:
        """The event as it travels through Redis (the status as the catalog stores it)."""
        return json.dumps({**asdict(self), "status": self.status.value}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> ProgressEvent:
        fields = json.loads(raw)
        return cls(**{**fields, "status": JobStatus(fields["status"])})
