"""The CLI's progress bar: it reads the same progress events as the subscriptions."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from server.db.enums import JobStatus
from server.events.event import ProgressEvent
from server.units import format_bytes


class ProgressBar:
    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._phase: str | None = None

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, event: ProgressEvent) -> None:
        if event.final:
            if self._task is not None and event.status is JobStatus.COMPLETED:
                self._progress.update(self._task, completed=100)
            return
        if event.phase != self._phase:
            if self._task is not None:
                self._progress.update(self._task, completed=100)
            self._phase = event.phase
            self._task = self._progress.add_task(event.phase, total=100, detail="")
        assert self._task is not None
        detail = format_bytes(event.bytes_done) + " SQL" if event.bytes_done else ""
        if event.current_table:
            detail += f"  {event.current_table}"
        self._progress.update(self._task, completed=event.percent, detail=detail)
