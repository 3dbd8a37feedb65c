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


def _line_start(data: bytes, needle: bytes, start: int = 0) -> int:
    """Offset of the first line (at or after `start`) that begins with `needle`, or -1."""
    if start == 0 and data.startswith(needle):
        return 0
    found = data.find(b"\n" + needle, max(start - 1, 0))
    return -1 if found < 0 else found + 1


class DumpSplitter:
    def __init__(
        self, writer: SectionWriter, on_section: Callable[[str, str | None], None] | None = None
    ) -> None:
        self._writer = writer
        self._on_section = on_section
        self._carry = b""
        self._started = False
        self._counting: str | None = None
        self._tail = b""
        self.rows: dict[str, int] = {}
        self.bytes_in = 0

    def feed(self, chunk: bytes) -> None:
        self.bytes_in += len(chunk)
        data = self._carry + chunk if self._carry else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # no complete line yet (a long row): wait for more
            self._carry = data
            return
        work, self._carry = data[:cut], data[cut:]
        if not self._started:
            self._started = True
            if work.startswith(SANDBOX_LINE):
                # MariaDB's sandbox line makes MySQL and older clients fail on line 1; our own
                # restore verifies the file's checksum instead.
                work = work[work.index(b"\n") + 1 :]
            self._writer.begin("header", None)
        self._process(work)

    def finish(self) -> bool:
        """Flush what is left; True when the dump ended with its completion line."""
        if self._carry:
            self._process(self._carry + b"\n")
            self._carry = b""
        self._writer.end()
        last = self._tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        return last.startswith(COMPLETED)

    def _process(self, work: bytes) -> None:
        self._tail = (self._tail + work[-512:])[-512:]
        position = 0
        search = 0
        while True:
            line = _line_start(work, b"-- ", search)
            if line < 0:
                break
            end = work.find(b"\n", line)
            search = end + 1
            marker = next(((p, kind) for p, kind in _MARKERS if work.startswith(p, line)), None)
            if marker is None:
                continue
            prefix, kind = marker
            name = _identifier(work[line + len(prefix) : end])
            self._emit(work[position:line])
            position = line
            self._begin(kind, name)
        self._emit(work[position:])

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

    def _emit(self, piece: bytes) -> None:
        if not piece:
            return
        if self._counting is not None:
            unlock = _line_start(piece, b"UNLOCK TABLES;")
            region = piece if unlock < 0 else piece[:unlock]
            self.rows[self._counting] += region.count(b"\n(") + region.startswith(b"(")
            if unlock >= 0:
                self._counting = None
        self._writer.write(piece)
