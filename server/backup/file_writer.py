"""The write stage: the backup's `.partial` file, hashed as written, handed to the disk as it
grows (so the final fsync waits for the last stretch only), and made durable on close."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import io
import os
from collections.abc import Callable
from functools import cache
from typing import BinaryIO

from server.errors import InsufficientStorage

# The file is handed to the disk in steps of this many bytes as it grows, so that the final
# fsync waits for the last step only, not for the whole file.
WRITEBACK_BYTES = 16 << 20
_SYNC_FILE_RANGE_WRITE = 2
DISK_FULL = "The backup folder's disk filled up during the backup; free space and retry."


@cache
def _writeback() -> Callable[[int, int, int, int], int] | None:
    """Linux's sync_file_range(2), which starts writing a range of a file to disk without
    waiting for it (the standard library has no binding); None where libc lacks it."""
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


class FileWriter:
    """A ByteSink that writes into an open file and hashes what it writes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.size = 0
        self.written_back = 0  # bytes whose writeback has been started
        try:
            self._fd: int | None = out.fileno() if _writeback() is not None else None
        except (io.UnsupportedOperation, AttributeError):
            self._fd = None  # an in-memory file

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, data: bytes | memoryview) -> None:
        try:
            self._out.write(data)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise InsufficientStorage(DISK_FULL) from None
            raise
        self._hash.update(data)
        self.size += len(data)
        if self._fd is not None and self.size - self.written_back >= WRITEBACK_BYTES:
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Start writing what the file holds so far to disk; the final fsync still makes it
        durable, this only spreads the disk's work over the backup instead of its end."""
        sync_file_range = _writeback()
        assert sync_file_range is not None and self._fd is not None
        self._out.flush()
        # Best effort: a failure here changes nothing that close()'s fsync does not report.
        sync_file_range(
            self._fd, self.written_back, self.size - self.written_back, _SYNC_FILE_RANGE_WRITE
        )
        self.written_back = self.size

    def close(self) -> None:
        """Flush and fsync (the file itself is closed by whoever opened it)."""
        try:
            self._out.flush()
            os.fsync(self._out.fileno())
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise InsufficientStorage(DISK_FULL) from None
            raise
