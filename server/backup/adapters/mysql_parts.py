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

STRUCTURE, ROWS, AFTER = "structure", "rows", "after"
_LOCK = b"LOCK TABLES "
_KEYS = b"/*!40000 ALTER TABLE "
_UNLOCK = b"UNLOCK TABLES;"


def _line_at(data: bytes, needle: bytes) -> int:
    """Offset of the first line of `data` that starts with `needle`, or -1."""
    if data.startswith(needle):
        return 0
    found = data.find(b"\n" + needle)
    return found if found < 0 else found + 1


class _Parts:
    def __init__(self, start: str) -> None:
        self.part = start

    def lines(self, data: bytes) -> Iterator[tuple[str, bytes]]:
        """(part, SQL) for whole lines `data`, noting where the part changes."""
        while data:
            if self.part == STRUCTURE:
                at = _line_at(data, _LOCK)
                if at < 0:
                    yield self.part, data
                    return
                if at:
                    yield self.part, data[:at]
                data = data[data.index(b"\n", at) + 1 :]
                self.part = ROWS
            elif self.part == ROWS:
                ends = [at for at in (_line_at(data, _KEYS), _line_at(data, _UNLOCK)) if at >= 0]
                if not ends:
                    yield self.part, data
                    return
                at = min(ends)
                if at:
                    yield self.part, data[:at]
                if data.startswith(_UNLOCK, at):
                    self.part = AFTER
                data = data[data.index(b"\n", at) + 1 :]
            else:
                yield self.part, data
                return


def table_parts(pieces: Iterator[bytes], start: str = STRUCTURE) -> Iterator[tuple[str, bytes]]:
    """(part, SQL) for the SQL of a table's section, in order, in pieces of whole lines; a
    chunk section (of rows only, and perhaps the table's last lines) starts in ROWS."""
    parts = _Parts(start)
    carry = b""
    for piece in pieces:
        data = carry + piece if carry else piece
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        yield from parts.lines(data[:cut])
    if carry:
        yield from parts.lines(carry + b"\n")


def structure_of(pieces: Iterator[bytes]) -> bytes:
    """The structure part alone: reading stops where the rows begin."""
    out: list[bytes] = []
    for part, sql in table_parts(pieces):
        if part != STRUCTURE:
            break
        out.append(sql)
    return b"".join(out)
