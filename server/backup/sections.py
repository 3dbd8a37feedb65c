"""The backup file: one compression frame (zstd frame, gzip member, or a plain byte range) per
section, so `zstd -dc file | mariadb db` restores the whole file with standard tools while
Lumbung can seek to one table's frame. The SHA-256 of the whole file and of every section are
computed on the bytes as written, so verification never needs to decompress."""

from __future__ import annotations

import ctypes
import hashlib
import io
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import BinaryIO, Protocol

import zstandard

from server.errors import InsufficientStorage

READ_SIZE = 1 << 20


@dataclass
class Section:
    kind: str  # header | table | views | events | routines | footer
    table: str | None
    offset: int = 0
    length: int = 0
    sha256: str = ""
    sql_bytes: int = 0
    rows: int | None = None
    # The accounts its views, triggers, routines or events are defined by (`user`@`host`, as
    # the dump writes them); None in manifests written before Lumbung recorded them.
    definers: list[str] | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "table": self.table,
            "offset": self.offset,
            "length": self.length,
            "sha256": self.sha256,
            "sqlBytes": self.sql_bytes,
            "rows": self.rows,
            "definers": self.definers,
        }

    @classmethod
    def from_json(cls, value: dict[str, object]) -> Section:
        return cls(
            kind=str(value["kind"]),
            table=None if value.get("table") is None else str(value["table"]),
            offset=int(value["offset"]),  # type: ignore[call-overload]
            length=int(value["length"]),  # type: ignore[call-overload]
            sha256=str(value["sha256"]),
            sql_bytes=int(value.get("sqlBytes", 0)),  # type: ignore[call-overload]
            rows=None if value.get("rows") is None else int(value["rows"]),  # type: ignore[call-overload]
            definers=None if value.get("definers") is None else [str(d) for d in value["definers"]],  # type: ignore[attr-defined]
        )


class _Frame(Protocol):
    def compress(self, data: bytes | memoryview) -> bytes | memoryview: ...
    def finish(self) -> bytes: ...


class _ZstdFrame:
    def __init__(self, compressor: zstandard.ZstdCompressor) -> None:
        self._obj = compressor.compressobj()

    def compress(self, data: bytes | memoryview) -> bytes:
        return self._obj.compress(data)

    def finish(self) -> bytes:
        return self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


class _GzipFrame:
    def __init__(self) -> None:
        self._obj = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member

    def compress(self, data: bytes | memoryview) -> bytes:
        return self._obj.compress(data)

    def finish(self) -> bytes:
        return self._obj.flush(zlib.Z_FINISH)


class _PlainFrame:
    def compress(self, data: bytes | memoryview) -> bytes | memoryview:
        return data

    def finish(self) -> bytes:
        return b""


# zstd's multi-threaded jobs default to 4x its window (8 MiB at level 3), and it keeps several
# jobs' input and output buffers in flight: tens of MB. 2 MiB jobs keep the server's memory
# flat at no measurable cost in ratio on SQL dumps.
ZSTD_JOB_BYTES = 2 << 20


def _zstd_compressor(level: int, threads: int) -> zstandard.ZstdCompressor:
    if threads == 0:
        return zstandard.ZstdCompressor(level=level, write_checksum=True)
    parameters = zstandard.ZstdCompressionParameters.from_level(
        level, threads=threads, job_size=ZSTD_JOB_BYTES, write_checksum=1
    )
    return zstandard.ZstdCompressor(compression_params=parameters)


# The file is handed to the disk in steps of this many bytes as it grows, so that the final
# fsync waits for the last step only, not for the whole file.
WRITEBACK_BYTES = 16 << 20
_SYNC_FILE_RANGE_WRITE = 2


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


class SectionWriter:
    """Writes sections one after another into an open file, hashing what it writes. A growing
    file is handed to the disk as it goes (WRITEBACK_BYTES), so close() has little to wait for.
    """

    def __init__(
        self, out: BinaryIO, compression: str, *, level: int = 3, threads: int = 0
    ) -> None:
        self._out = out
        self._compression = compression
        self._zstd = _zstd_compressor(level, threads) if compression == "zstd" else None
        self._file_hash = hashlib.sha256()
        self._section_hash = hashlib.sha256()
        self._frame: _Frame | None = None
        self._current: Section | None = None
        self.sections: list[Section] = []
        self.size = 0
        self._written_back = 0
        try:
            self._fd: int | None = out.fileno() if _writeback() is not None else None
        except (io.UnsupportedOperation, AttributeError):
            self._fd = None  # an in-memory file

    def _new_frame(self) -> _Frame:
        if self._zstd is not None:
            return _ZstdFrame(self._zstd)
        if self._compression == "gzip":
            return _GzipFrame()
        return _PlainFrame()

    def _write(self, data: bytes | memoryview) -> None:
        if not data:
            return
        try:
            self._out.write(data)
        except OSError as exc:
            if exc.errno == 28:  # ENOSPC
                raise InsufficientStorage(
                    "The backup folder's disk filled up during the backup; free space and retry."
                ) from None
            raise
        self._file_hash.update(data)
        self._section_hash.update(data)
        self.size += len(data)
        if self._fd is not None and self.size - self._written_back >= WRITEBACK_BYTES:
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Start writing what the file holds so far to disk; the final fsync still makes it
        durable, this only spreads the disk's work over the backup instead of its end."""
        sync_file_range = _writeback()
        assert sync_file_range is not None and self._fd is not None
        self._out.flush()
        # Best effort: a failure here changes nothing that close()'s fsync does not report.
        sync_file_range(
            self._fd, self._written_back, self.size - self._written_back, _SYNC_FILE_RANGE_WRITE
        )
        self._written_back = self.size

    def begin(self, kind: str, table: str | None) -> Section:
        self.end()
        self._current = Section(kind=kind, table=table, offset=self.size, definers=[])
        self._section_hash = hashlib.sha256()
        self._frame = self._new_frame()
        return self._current

    @property
    def current(self) -> Section | None:
        return self._current

    def write(self, data: bytes | memoryview) -> None:
        assert self._frame is not None and self._current is not None, "begin() a section first"
        self._current.sql_bytes += len(data)
        self._write(self._frame.compress(data))

    def end(self) -> None:
        if self._frame is None or self._current is None:
            return
        self._write(self._frame.finish())
        self._current.length = self.size - self._current.offset
        self._current.sha256 = self._section_hash.hexdigest()
        self.sections.append(self._current)
        self._frame = None
        self._current = None

    def close(self) -> str:
        """End the last section, flush and fsync; returns the file's SHA-256."""
        self.end()
        try:
            self._out.flush()
            os.fsync(self._out.fileno())
        except OSError as exc:
            if exc.errno == 28:
                raise InsufficientStorage(
                    "The backup folder's disk filled up during the backup; free space and retry."
                ) from None
            raise
        return self._file_hash.hexdigest()


def read_section(file: BinaryIO, section: Section, compression: str) -> Iterator[bytes]:
    """The SQL of one section, decompressed, in chunks (memory stays flat)."""
    file.seek(section.offset)
    remaining = section.length
    gzip = zlib.decompressobj(31) if compression == "gzip" else None
    zstd = zstandard.ZstdDecompressor().decompressobj() if compression == "zstd" else None
    while remaining > 0:
        chunk = file.read(min(READ_SIZE, remaining))
        if not chunk:
            raise EOFError("the backup file ends inside a section")
        remaining -= len(chunk)
        if zstd is not None:
            yield zstd.decompress(chunk)
        elif gzip is not None:
            yield gzip.decompress(chunk)
        else:
            yield chunk
    if gzip is not None and (tail := gzip.flush()):
        yield tail
