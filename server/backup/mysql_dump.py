"""Reading `mariadb-dump`'s output as it streams: cut it into sections (one per table, plus
the header, views, events and routines) and count every table's rows exactly.

mariadb-dump marks each part of its output with a comment line (`-- Table structure for table
\\`User\\``, `-- Dumping data for table ...`), and writes each row of an extended INSERT on a
line of its own that starts with `(`; a string value never holds a raw newline (it is written
as `\\n`). So sections are found with one `find` per comment line and rows are counted with
`bytes.count`, both at C speed, without parsing SQL in Python.
"""

from __future__ import annotations

from collections.abc import Callable

from server.backup.sections import SectionWriter

SANDBOX_LINE = b"/*M!999999\\- enable the sandbox mode */"
COMPLETED = b"-- Dump completed"
_MARKERS: tuple[tuple[bytes, str], ...] = (
    (b"-- Table structure for table ", "table"),
    (b"-- Dumping data for table ", "data"),
    (b"-- Temporary table structure for view ", "view"),
    (b"-- Final view structure for view ", "view"),
    (b"-- Dumping events for database ", "events"),
    (b"-- Dumping routines for database ", "routines"),
)


def _identifier(text: bytes) -> str:
    """`\\`a\\`\\`b\\`` -> a`b (mariadb-dump doubles backticks inside names)."""
    text = text.strip()
    if text.startswith(b"`") and text.endswith(b"`"):
        text = text[1:-1].replace(b"``", b"`")
    return text.decode("utf-8", "surrogateescape")


def _line_start(data: bytes, needle: bytes, start: int, end: int) -> int:
    """Offset of the first line in data[start:end] that begins with `needle`, or -1 (`start`
    is the beginning of a line)."""
    if data.startswith(needle, start, end):
        return start
    found = data.find(b"\n" + needle, start, end)
    return -1 if found < 0 else found + 1


class DumpSplitter:
    """Cuts the stream at its marker lines without copying it: each chunk is searched and
    handed to the writer in place (as memoryview slices); only a line split across two chunks
    is joined."""

    def __init__(
        self, writer: SectionWriter, on_section: Callable[[str, str | None], None] | None = None
    ) -> None:
        self._writer = writer
        self._on_section = on_section
        self._carry: list[bytes] = []  # the start of a line that the next chunk ends
        self._started = False
        self._counting: str | None = None
        self._tail = b""
        self.rows: dict[str, int] = {}
        self.bytes_in = 0

    def feed(self, chunk: bytes) -> None:
        self.bytes_in += len(chunk)
        start = 0
        if self._carry:
            first = chunk.find(b"\n") + 1
            if first == 0:  # no complete line yet (a long row): wait for more
                self._carry.append(chunk)
                return
            line = b"".join([*self._carry, chunk[:first]])
            self._carry = []
            self._lines(line, 0, len(line))
            start = first
        cut = chunk.rfind(b"\n", start) + 1
        if cut <= start:
            if start < len(chunk):
                self._carry.append(chunk[start:])
            return
        self._lines(chunk, start, cut)
        if cut < len(chunk):
            self._carry.append(chunk[cut:])

    def finish(self) -> bool:
        """Flush what is left; True when the dump ended with its completion line."""
        if self._carry:
            line = b"".join([*self._carry, b"\n"])
            self._carry = []
            self._lines(line, 0, len(line))
        self._writer.end()
        last = self._tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        return last.startswith(COMPLETED)

    def _lines(self, data: bytes, start: int, end: int) -> None:
        """Whole lines: data[start:end] starts a line and ends with a newline."""
        if not self._started:
            self._started = True
            if data.startswith(SANDBOX_LINE, start, end):
                # MariaDB's sandbox line makes MySQL and older clients fail on line 1; our own
                # restore verifies the file's checksum instead.
                start = data.index(b"\n", start) + 1
            self._writer.begin("header", None)
        self._tail = (self._tail + data[max(start, end - 512) : end])[-512:]
        position = search = start
        while True:
            line = _line_start(data, b"-- ", search, end)
            if line < 0:
                break
            line_end = data.find(b"\n", line, end)
            search = line_end + 1
            marker = next(((p, kind) for p, kind in _MARKERS if data.startswith(p, line)), None)
            if marker is None:
                continue
            prefix, kind = marker
            name = _identifier(data[line + len(prefix) : line_end])
            self._emit(data, position, line)
            position = line
            self._begin(kind, name)
        self._emit(data, position, end)

    def _begin(self, kind: str, name: str) -> None:
        current = self._writer.current
        if kind == "data":
            self._counting = name
            self.rows.setdefault(name, 0)
            if current is not None and current.kind == "table" and current.table == name:
                return  # the data follows its own table's structure: same section
            kind = "table"
        if kind in ("events", "routines"):
            name_or_none: str | None = None
        else:
            name_or_none = name
        if current is not None and current.kind == kind and current.table == name_or_none:
            return
        self._writer.begin(kind, name_or_none)
        if self._on_section is not None:
            self._on_section(kind, name_or_none)

    def _emit(self, data: bytes, start: int, end: int) -> None:
        if start >= end:
            return
        if self._counting is not None:
            unlock = _line_start(data, b"UNLOCK TABLES;", start, end)
            stop = end if unlock < 0 else unlock
            self.rows[self._counting] += data.count(b"\n(", start, stop) + data.startswith(
                b"(", start, stop
            )
            if unlock >= 0:
                self._counting = None
        self._writer.write(memoryview(data)[start:end])
