"""A table's SQL, as the dump wrote it, told apart into the three parts a parallel restore runs
at different times: its structure (before the data, on one connection), its rows (over many
connections at once) and what follows the rows (its triggers, after all the data).

mariadb-dump (and mysqldump) write a table's data between `LOCK TABLES t WRITE;` and
`UNLOCK TABLES;`, inside `ALTER TABLE t DISABLE KEYS` / `ENABLE KEYS` (no-ops for InnoDB).
Those lines are dropped: a table lock would keep the other connections out of the table, and
the restore defers its indexes itself (mysql_keys.py). Row lines start with `(` and INSERT
lines with `INSERT`, and a value never holds a raw newline, so these lines are found with
one search each per piece, at C speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

STRUCTURE, ROWS, AFTER = "structure", "rows", "after"
_LOCK = b"LOCK TABLES "
_KEYS = b"/*!40000 ALTER TABLE "
_UNLOCK = b"UNLOCK TABLES;"


@dataclass(frozen=True, slots=True)
class Span:
    """data[start:end], without copying it: a reader searches `data` within the bounds (bytes
    has `find`, a memoryview has not) and hands `view()` on."""

    data: bytes
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def view(self) -> memoryview:
        return memoryview(self.data)[self.start : self.end]

    def __bytes__(self) -> bytes:
        return self.data[self.start : self.end]


def _line_at(data: bytes, needle: bytes, start: int, end: int) -> int:
    """Offset of the first line of data[start:end] (which starts a line) that starts with
    `needle`, or -1."""
    if data.startswith(needle, start, end):
        return start
    found = data.find(b"\n" + needle, start, end)
    return found if found < 0 else found + 1


class _Parts:
    def __init__(self, start: str, *, last: bool) -> None:
        self.part = start
        self.last = last
        self.after_lock = False  # the line after LOCK TABLES may be DISABLE KEYS

    def lines(self, data: bytes, start: int, end: int) -> Iterator[tuple[str, Span]]:
        """(part, SQL) for the whole lines data[start:end], noting where the part changes;
        the SQL is a span of `data`, not a copy."""
        while start < end:
            if self.part == STRUCTURE:
                at = _line_at(data, _LOCK, start, end)
                if at < 0:
                    yield self.part, Span(data, start, end)
                    return
                if at > start:
                    yield self.part, Span(data, start, at)
                start = data.index(b"\n", at, end) + 1
                self.part = ROWS
                self.after_lock = True
            elif self.part == ROWS and self.after_lock:
                self.after_lock = False
                if data.startswith(_KEYS, start, end):
                    start = data.index(b"\n", start, end) + 1
            elif self.part == ROWS and not self.last:
                # Not the table's last section: its rows go on in the next one, and the
                # lines that end them (ENABLE KEYS, UNLOCK TABLES) cannot be here. Not
                # searching for them saves two passes over the rows (0.4 CPU s per GB).
                yield self.part, Span(data, start, end)
                return
            elif self.part == ROWS:
                ends = [
                    at
                    for at in (
                        _line_at(data, _KEYS, start, end),
                        _line_at(data, _UNLOCK, start, end),
                    )
                    if at >= 0
                ]
                if not ends:
                    yield self.part, Span(data, start, end)
                    return
                at = min(ends)
                if at > start:
                    yield self.part, Span(data, start, at)
                if data.startswith(_UNLOCK, at, end):
                    self.part = AFTER
                start = data.index(b"\n", at, end) + 1
            else:
                yield self.part, Span(data, start, end)
                return


def table_parts(
    pieces: Iterator[bytes], start: str = STRUCTURE, *, last: bool = True
) -> Iterator[tuple[str, Span]]:
    """(part, SQL) for the SQL of a table's section, in order, in pieces of whole lines; a
    chunk section (of rows only, and perhaps the table's last lines) starts in ROWS. `last`:
    this is the table's last section (the only one its rows can end in). Only a line split
    across two pieces is joined: the rest is handed on without a copy."""
    parts = _Parts(start, last=last)
    carry: list[bytes] = []
    for piece in pieces:
        begin = 0
        if carry:
            first = piece.find(b"\n") + 1
            if first == 0:
                carry.append(piece)
                continue
            line = b"".join([*carry, piece[:first]])
            carry = []
            yield from parts.lines(line, 0, len(line))
            begin = first
        cut = piece.rfind(b"\n", begin) + 1
        if cut > begin:
            yield from parts.lines(piece, begin, cut)
        else:
            cut = begin
        if cut < len(piece):
            carry.append(piece[cut:])
    if carry:
        line = b"".join([*carry, b"\n"])
        yield from parts.lines(line, 0, len(line))


def structure_of(pieces: Iterator[bytes]) -> bytes:
    """The structure part alone: reading stops where the rows begin."""
    out: list[bytes] = []
    for part, sql in table_parts(pieces):
        if part != STRUCTURE:
            break
        out.append(bytes(sql))
    return b"".join(out)
