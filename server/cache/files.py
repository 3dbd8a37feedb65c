"""Emptying a cache folder (FILE's upload/temp folders, SESSION's session files) safely.

- Only regular files are removed. Directories stay (an application may expect its folder
  tree), and so do symlinks, sockets and devices.
- No symlink inside the folder is ever followed: the walk is `os.fwalk` with
  `follow_symlinks=False`, which holds each directory open by descriptor and works relative to
  it, so a directory swapped for a symlink mid-walk is not entered. Files are unlinked by name
  relative to their directory's descriptor; unlink never follows a symlink.
- The walk stays on the folder's file system (like `find -xdev`): a mount inside a cache
  folder is someone else's data.
- The configured folder itself is resolved once, like `find -H` does with its arguments: a
  folder that is a symlink (as /tmp is on some systems) is the folder the admin pointed at.
  The resolved path must not hold Lumbung's own data (checked by the caller).

Everything here blocks on the file system: call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MAX_ERRORS_KEPT = 3


@dataclass
class FolderReport:
    folder: Path
    exists: bool = True
    removed: int = 0
    removed_bytes: int = 0
    kept_not_regular: int = 0
    kept_too_new: int = 0
    kept_other_filesystem: int = 0
    error_count: int = 0
    permission_errors: int = 0
    errors: list[str] = field(default_factory=list)

    def note_error(self, path: str, exc: OSError) -> None:
        self.error_count += 1
        self.permission_errors += isinstance(exc, PermissionError)
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(f"{path}: {exc.strerror or type(exc).__name__}")

    @property
    def only_permission_errors(self) -> bool:
        return self.error_count == self.permission_errors

    @property
    def kept(self) -> str | None:
        parts = []
        if n := self.kept_too_new:
            parts.append(f"{n} newer {'file' if n == 1 else 'files'} kept")
        if n := self.kept_not_regular:
            what = "symlink or special file" if n == 1 else "symlinks or special files"
            parts.append(f"{n} {what} left alone")
        if n := self.kept_other_filesystem:
            parts.append(f"{n} mounted {'folder' if n == 1 else 'folders'} left alone")
        return "; ".join(parts) or None


def clear_folder(
    folder: Path,
    *,
    min_age_seconds: float = 0,
    name_filter: Callable[[str], bool] | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> FolderReport:
    """Remove (or, in a dry run, count) the regular files under `folder` that are at least
    `min_age_seconds` old (by modification time) and whose name passes `name_filter`."""
    report = FolderReport(folder)
    if not os.path.lexists(folder):
        report.exists = False
        return report
    top = os.path.realpath(folder)
    if not os.path.isdir(top):
        raise NotADirectoryError(f"{folder} is not a folder")
    cutoff = (time.time() if now is None else now) - min_age_seconds
    device = os.stat(top).st_dev
    for dirpath, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        _prune(dirnames, dirfd, device, report)
        for name in filenames:
            _consider(name, dirpath, dirfd, cutoff, name_filter, dry_run, report)
    return report


def _prune(dirnames: list[str], dirfd: int, device: int, report: FolderReport) -> None:
    """Drop from the walk the symlinks to folders and the folders of another file system."""
    for name in list(dirnames):
        try:
            info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            dirnames.remove(name)
            continue
        if stat.S_ISLNK(info.st_mode):
            report.kept_not_regular += 1
            dirnames.remove(name)
        elif info.st_dev != device:
            report.kept_other_filesystem += 1
            dirnames.remove(name)


def _consider(
    name: str,
    dirpath: str,
    dirfd: int,
    cutoff: float,
    name_filter: Callable[[str], bool] | None,
    dry_run: bool,
    report: FolderReport,
) -> None:
    if name_filter is not None and not name_filter(name):
        return
    try:
        info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return  # removed by someone else meanwhile: nothing left to do
    except OSError as exc:
        report.note_error(os.path.join(dirpath, name), exc)
        return
    if not stat.S_ISREG(info.st_mode):
        report.kept_not_regular += 1
        return
    if info.st_mtime > cutoff:
        report.kept_too_new += 1
        return
    if not dry_run:
        try:
            # Relative to the directory's descriptor, and unlink never follows a symlink:
            # if the name was swapped for a link since the stat, the link goes, not its target.
            os.unlink(name, dir_fd=dirfd)
        except FileNotFoundError:
            return
        except OSError as exc:
            report.note_error(os.path.join(dirpath, name), exc)
            return
    report.removed += 1
    report.removed_bytes += info.st_size


def holds(folder: Path, protected: Path) -> bool:
    """Whether `folder` (resolved) is `protected` or one of its parents."""
    inner = Path(os.path.realpath(protected))
    outer = Path(os.path.realpath(folder))
    return inner == outer or outer in inner.parents
