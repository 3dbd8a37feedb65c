"""A backup's data path: a chain of small stages, each testable alone.

    dump             the database adapter runs the dump        adapters/mysql.py, sqlite.py
    split            SQL cut into sections, rows counted       splitter.py  -> a SectionSink
    compress + hash  one frame per section, each hashed        sections.py  -> a ByteSink
    write            the `.partial` file: hashed, fsynced      file_writer.py
    manifest         written last, beside the file             manifest.py

`pipeline.py` joins them. A stage that changes the file's bytes on their way to the disk
(encryption) or sends them elsewhere too (an upload) is one more ByteSink between the framer
and the file writer: it writes into the next sink and closes it when it is closed itself, and
no other stage changes. Section offsets and checksums are those of the framed bytes, before
any such stage; the file's own SHA-256 is that of the bytes on disk.
"""

from __future__ import annotations

from typing import Protocol

from server.backup.manifest import Section


class ByteSink(Protocol):
    """Takes the file's bytes in order."""

    def write(self, data: bytes | memoryview) -> None: ...

    def close(self) -> None:
        """Write out what is held, close the next sink, make it all durable."""
        ...


class SectionSink(Protocol):
    """Takes a dump's SQL section by section (the header, a table, views, events, routines)."""

    @property
    def current(self) -> Section | None: ...

    def begin(self, kind: str, table: str | None) -> Section:
        """End the current section, if any, and start a new one."""
        ...

    def write(self, data: bytes | memoryview) -> None: ...

    def end(self) -> None: ...
