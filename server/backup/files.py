"""The backup folder: names made by the server, paths that never leave the folder.

A backup is only ever reached through its catalog row, whose filename the server made. Even
so, every name is checked against the one shape the server makes, and files are opened with
O_NOFOLLOW, so a planted symlink or a crafted catalog row cannot lead a read, a restore or a
delete outside the folder.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from server.errors import BadUserInput, NotFound

SUFFIXES = {"zstd": ".sql.zst", "gzip": ".sql.gz", "none": ".sql"}
NAME_PATTERN = re.compile(
    r"backup_(full|partial|selective|safety)_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(-\d{1,4})?\.sql(\.zst|\.gz)?"
)
PARTIAL = ".partial"
MANIFEST = ".manifest.json"
# A file being fetched from an offsite copy (server/offsite/fetch.py); recovery leaves these
# alone, since a fetch runs outside the job lock.
DOWNLOAD = ".download"


def fsync_directory(path: Path) -> None:
    """Make a rename or an unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BackupFolder:
    def __init__(self, root: Path) -> None:
        self.root = root

    def check_name(self, name: str) -> str:
        if not NAME_PATTERN.fullmatch(name):
            raise BadUserInput(f"{name!r} is not a backup file name made by Lumbung.")
        return name

    def path(self, name: str) -> Path:
        return self.root / self.check_name(name)

    def partial_path(self, name: str) -> Path:
        return self.root / (self.check_name(name) + PARTIAL)

    def manifest_path(self, name: str) -> Path:
        return self.root / (self.check_name(name) + MANIFEST)

    def download_path(self, name: str) -> Path:
        return self.root / (self.check_name(name) + DOWNLOAD)

    def has_files(self, name: str) -> bool:
        """Whether the backup's file and its manifest are both in the folder."""
        return self.path(name).is_file() and self.manifest_path(name).is_file()

    def reserve(self, kind: str, compression: str, when: datetime) -> tuple[str, BinaryIO]:
        """A new unique name (the seed's `backup_full_2024-01-15T10-30-00.sql.zst`), and its
        `.partial` file created exclusively, so two backups in the same second never collide."""
        self.root.mkdir(parents=True, exist_ok=True)
        stem = f"backup_{kind}_{when:%Y-%m-%dT%H-%M-%S}"
        for attempt in range(1, 1000):
            name = (stem if attempt == 1 else f"{stem}-{attempt}") + SUFFIXES[compression]
            if self.path(name).exists() or self.manifest_path(name).exists():
                continue
            try:
                fd = os.open(
                    self.partial_path(name),
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                    0o600,
                )
            except FileExistsError:
                continue
            return name, os.fdopen(fd, "wb")
        raise RuntimeError(f"no free backup name for {stem}")

    def open_backup(self, name: str) -> BinaryIO:
        """Open a finished backup for reading; a symlink or a non-regular file is refused."""
        path = self.path(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise NotFound(
                f"The file of backup {name} is missing from the backup folder."
            ) from None
        except OSError as exc:  # ELOOP: a symlink was planted in its place
            raise NotFound(
                f"The file of backup {name} is not a regular file ({exc.strerror})."
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotFound(f"The file of backup {name} is not a regular file.")
        return os.fdopen(fd, "rb")

    def finish(self, name: str) -> None:
        """Rename the fsynced `.partial` into place, durably."""
        os.replace(self.partial_path(name), self.path(name))
        fsync_directory(self.root)

    def remove(self, name: str) -> list[str]:
        """Delete the file, its manifest and any partial; returns what existed and was removed.
        unlink never follows a symlink: a planted link is removed, not its target."""
        removed = []
        for path in (self.path(name), self.manifest_path(name), self.partial_path(name)):
            try:
                path.unlink()
                removed.append(path.name)
            except FileNotFoundError:
                pass
        if removed:
            fsync_directory(self.root)
        return removed
