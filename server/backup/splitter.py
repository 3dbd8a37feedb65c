"""The split stage: `mariadb-dump`'s output, read as it streams, is cut into sections (one per
table, plus the header, views, events and routines), and every table's rows are counted exactly.

mariadb-dump marks each part of its output with a comment line (`-- Table structure for table
\\`User\\``, `-- Dumping data for table ...`), and writes each row of an extended INSERT on a
line of its own that starts with `(`; a string value never holds a raw newline (it is written
as `\\n`). So sections are found with one search per comment line and rows are counted by
their line starts, both at C speed, without parsing SQL in Python.

Both use what is fastest on SQL text (measured on 1 MiB chunks of a dump, bench/RESULTS.md):
`bytes.find`/`count` with a short needle step through text full of spaces and dashes about one
byte at a time, while `re` skips ahead to each newline. So comment lines are found with a
compiled pattern, and rows with one as well once a table's rows prove long; tables of short
rows, where a match per row would cost more, keep `bytes.count`. Both count the same thing.
While long rows are counted, one pattern finds the rows and the lines that end them at once:
most chunks of a large table hold rows only, and then that one search is all they cost.

MySQL's own mysqldump writes each extended INSERT with all its rows on one line instead; a
table whose first INSERT looks so has its rows counted by a pattern that steps over string
literals and quoted names (slower, but exact).

A large table's rows are cut into chunk sections (kind `rows`) of about `chunk_bytes` of SQL
each, always just before an `INSERT INTO` line: every chunk is whole statements, so a restore
can load the chunks of one table over several connections at once, while the file, read front
to back, is the very same SQL stream as before.

Outside a table's rows the splitter also notes, per section, the accounts that views, triggers,
routines and events are defined by (a restore checks that it may create them), and the routines
the dump could not read and left out (the backup then fails rather than lacking them).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from server.backup.manifest import Section
from server.backup.stages import SectionSink

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


UNLOCK = b"UNLOCK TABLES;"
# What the dump writes instead of a routine that the account may not read; it then carries on
# and exits 0, so the file would silently lack the routine.
UNREADABLE = b"-- insufficient privileges to SHOW CREATE "
# The account a view, trigger, routine or event is defined by, where mariadb-dump and mysqldump
# write it: at the start of the statement's line (`/*!50013 DEFINER=...` for a view,
# `/*!50003 CREATE*/ /*!50017 DEFINER=...` for a trigger, `CREATE DEFINER=...` for a routine).
# Row lines start with `(`, so a row's text never matches.
_DEFINER = re.compile(
    rb"^(?:/\*!\d{5} CREATE\*/ )?(?:/\*!\d{5} |CREATE )"
    rb"DEFINER=(`(?:[^`]|``)*`(?:@`(?:[^`]|``)*`)?)",
    re.MULTILINE,
)
_COMMENT_LINE = re.compile(rb"\n-- ")
_MARK_OR_UNLOCK = re.compile(rb"\n(?:-- |UNLOCK TABLES;)")
_ROW_LINE = re.compile(rb"\n\(")
# Rows and the lines that end them, in one pass: a chunk of long rows holds no marker most of
# the time, and then its row count is the number of matches.
_ROW_OR_MARK = re.compile(rb"\n(\(|-- |UNLOCK TABLES;)")
# MySQL's mysqldump writes each extended INSERT on one line, `VALUES (1,'a'),(2,'b');`: its rows
# are the `VALUES (` and `),(` outside string literals (escaped with backslashes) and quoted
# names (`a'b`), which the pattern steps over whole.
_ONE_LINE_ROW = re.compile(rb"'(?:[^'\\]|\\.)*'|`(?:[^`]|``)*`|(\),\(|VALUES \()")
_INSERT = b"INSERT INTO "
_INSERT_LINE = b"\n" + _INSERT
# The SQL of a table's rows per chunk section, by default (LUMBUNG_BACKUP_CHUNK_MIB).
CHUNK_BYTES = 64 << 20
# From this many bytes per row on (rows seen so far in the table), rows are counted with
# _ROW_LINE (~0.45 ms per MiB plus ~40 ns per match) rather than `bytes.count` (~1.2 ms per MiB).
LONG_ROW_BYTES = 64


def _identifier(text: bytes) -> str:
    """`\\`a\\`\\`b\\`` -> a`b (mariadb-dump doubles backticks inside names)."""
    text = text.strip()
    if text.startswith(b"`") and text.endswith(b"`"):
        text = text[1:-1].replace(b"``", b"`")
    return text.decode("utf-8", "surrogateescape")


class DumpSplitter:
    """Cuts the stream at its marker lines without copying it: each chunk is searched and
    handed to the writer in place (as memoryview slices); only a line split across two chunks
    is joined."""

    def __init__(
        self,
        writer: SectionSink,
        on_section: Callable[[str, str | None], None] | None = None,
        *,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self._writer = writer
        self._chunk_bytes = chunk_bytes
        # Each chunk section with the table's row count where it began: its own rows are
        # known once the next one begins or the dump ends.
        self._chunks: list[tuple[Section, str, int]] = []
        self._on_section = on_section
        self._carry: list[bytes] = []  # the start of a line that the next chunk ends
        self._started = False
        self._counting: str | None = None
        self._counted_bytes = 0  # of the table being counted
        self._one_line: bool | None = None  # its INSERTs hold all rows on one line (MySQL)
        self._tail = b""
        self.rows: dict[str, int] = {}
        self.unreadable: list[str] = []  # routines the dump left out, e.g. "PROCEDURE `p`"
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
        for index, (section, table, first) in enumerate(self._chunks):
            following = self._chunks[index + 1 :]
            end = following[0][2] if following and following[0][1] == table else self.rows[table]
            section.rows = end - first
        last = self._tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        return last.startswith(COMPLETED)

    def _lines(self, data: bytes, start: int, end: int) -> None:
        """Whole lines: data[start:end] starts a line and ends with a newline. A table's rows
        that have outgrown their section go on in a new chunk section from the first INSERT
        of these lines."""
        table = self._counting
        current = self._writer.current
        if (
            table is not None
            and current is not None
            and current.table == table
            and current.sql_bytes >= self._chunk_bytes
        ):
            if data.startswith(_INSERT, start, end):
                at = start
            else:
                found = data.find(_INSERT_LINE, start, end)
                at = -1 if found < 0 else found + 1
            if at >= 0:
                self._some_lines(data, start, at)
                current = self._writer.current
                if self._counting == table and current is not None and current.table == table:
                    section = self._writer.begin("rows", table)
                    section.chunk = sum(1 for c in self._chunks if c[1] == table) + 1
                    self._chunks.append((section, table, self.rows[table]))
                start = at
        self._some_lines(data, start, end)

    def _some_lines(self, data: bytes, start: int, end: int) -> None:
        if start >= end:
            return
        if not self._started:
            self._started = True
            if data.startswith(SANDBOX_LINE, start, end):
                # MariaDB's sandbox line makes MySQL and older clients fail on line 1; our own
                # restore verifies the file's checksum instead.
                start = data.index(b"\n", start) + 1
            self._writer.begin("header", None)
        self._tail = (self._tail + data[max(start, end - 512) : end])[-512:]
        if self._counting is not None and self._one_line is False and self._rows_are_long():
            found = _ROW_OR_MARK.findall(data, start, end)
            if found.count(b"(") == len(found) and not data.startswith((b"-- ", UNLOCK), start):
                # Rows only (the usual chunk of a large table): one search did it all.
                self._add_rows(len(found) + data.startswith(b"(", start, end), end - start)
                self._writer.write(memoryview(data)[start:end])
                return
        position = search = start
        while True:
            line = self._next_mark(data, search, end)
            if line < 0:
                break
            line_end = data.find(b"\n", line, end)
            search = line_end + 1
            if data.startswith(UNLOCK, line):  # the end of the rows being counted
                self._emit(data, position, line)
                self._counting = None
                position = line
                continue
            marker = next(((p, kind) for p, kind in _MARKERS if data.startswith(p, line)), None)
            if marker is None:
                if data.startswith(UNREADABLE, line):
                    self.unreadable.append(
                        data[line + len(UNREADABLE) : line_end].decode("utf-8", "replace")
                    )
                continue
            prefix, kind = marker
            name = _identifier(data[line + len(prefix) : line_end])
            self._emit(data, position, line)
            position = line
            self._begin(kind, name)
        self._emit(data, position, end)

    def _next_mark(self, data: bytes, start: int, end: int) -> int:
        """Offset of the next comment line in data[start:end] (`start` begins a line), or of
        the `UNLOCK TABLES;` line while rows are being counted; -1 when there is none."""
        counting = self._counting is not None
        if data.startswith(b"-- ", start, end) or (
            counting and data.startswith(UNLOCK, start, end)
        ):
            return start
        found = (_MARK_OR_UNLOCK if counting else _COMMENT_LINE).search(data, start, end)
        return -1 if found is None else found.start() + 1

    @staticmethod
    def _insert_format(data: bytes, start: int, end: int) -> bool | None:
        """True when the first INSERT in data[start:end] holds its rows on the same line
        (MySQL's mysqldump), False when they follow on lines of their own (mariadb-dump),
        None when there is no INSERT yet."""
        at = (
            start
            if data.startswith(_INSERT, start, end)
            else data.find(b"\n" + _INSERT, start, end)
        )
        if at < 0:
            return None
        line_end = data.find(b"\n", at + 1, end)
        return not data[at:line_end].rstrip().endswith(b"VALUES")

    def _begin(self, kind: str, name: str) -> None:
        current = self._writer.current
        if kind == "data":
            self._counting = name
            self._counted_bytes = 0
            self._one_line = None
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
            if self._one_line is None:
                self._one_line = self._insert_format(data, start, end)
            if self._one_line:
                tokens = _ONE_LINE_ROW.findall(data, start, end)
                self._add_rows(len(tokens) - tokens.count(b""), end - start)
            else:
                if self._rows_are_long():
                    found = len(_ROW_LINE.findall(data, start, end))
                else:
                    found = data.count(b"\n(", start, end)
                self._add_rows(found + data.startswith(b"(", start, end), end - start)
        else:
            self._note_definers(data, start, end)
        self._writer.write(memoryview(data)[start:end])

    def _note_definers(self, data: bytes, start: int, end: int) -> None:
        """Record in the current section the definers named in data[start:end] (whole lines
        outside a table's rows: structure, triggers, views, routines, events)."""
        section = self._writer.current
        if section is None or section.definers is None:
            return
        for definer in _DEFINER.findall(data, start, end):
            name = definer.decode("utf-8", "surrogateescape")
            if name not in section.definers:
                section.definers.append(name)

    def _rows_are_long(self) -> bool:
        """Whether the table being counted averages over LONG_ROW_BYTES a row so far."""
        assert self._counting is not None
        return self._counted_bytes > LONG_ROW_BYTES * (self.rows[self._counting] + 1)

    def _add_rows(self, rows: int, size: int) -> None:
        assert self._counting is not None
        self.rows[self._counting] += rows
        self._counted_bytes += size
