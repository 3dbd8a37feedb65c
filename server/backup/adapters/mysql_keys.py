"""Deferred indexes: a table's secondary and full-text indexes left out of its CREATE TABLE
while its rows go in, and added afterwards in one ALTER TABLE, as myloader's
`--optimize-keys` and MySQL Shell's `deferTableIndexes` do. InnoDB then builds each index
once, sorted, instead of updating it row by row.

The restored table must be the one that was dumped, to the byte of `SHOW CREATE TABLE`
(myloader has lost deferred indexes before: its issue #572). So the key lines are moved
verbatim (name, columns, prefix lengths, COMMENT, parser) and only where nothing can tell:

- plain `KEY`s and at most one `FULLTEXT KEY` (InnoDB adds one full-text index per ALTER);
  UNIQUE, SPATIAL and PRIMARY keys stay (a unique key may be the clustered index, and it is
  what would catch a duplicate);
- of the plain keys, only the last ones, after the last that stays (see below);
- only in an InnoDB table with a PRIMARY KEY, neither partitioned nor system-versioned;
- never a key on the AUTO_INCREMENT column (the column needs one at every moment), nor on a
  column of a foreign key, on either side: a foreign key needs an index on its columns and on
  the columns it references, and InnoDB would make one of its own if the key were missing.

MariaDB orders a table's keys by kind (unique, plain, full-text), then by the order they were
given in (sort_keys in sql_table.cc), and the keys an ALTER adds come after the ones the table
has: so only a tail of each kind may be deferred, and then SHOW CREATE TABLE lists them as the
original did (a test compares it, with a plain key that must stay for a foreign key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CREATE = re.compile(rb"^CREATE TABLE (`(?:[^`]|``)+`) \(\n(.*?)\n(\) [^\n]*;)$", re.M | re.S)
_FOREIGN = re.compile(rb"FOREIGN KEY \(([^)]*)\) REFERENCES (`(?:[^`]|``)+`) \(([^)]*)\)")
_COLUMN_NAME = re.compile(rb"`((?:[^`]|``)+)`")
# A key's columns: names with an optional prefix length and order (`a`(10) DESC).
_KEY_COLUMNS = re.compile(
    rb"^\s*(?:FULLTEXT )?KEY `(?:[^`]|``)+` \(((?:`(?:[^`]|``)+`(?:\(\d+\))?(?: DESC)?,?)+)\)"
)
_AUTO = re.compile(rb"^\s*`((?:[^`]|``)+)` .* AUTO_INCREMENT\b")


@dataclass(frozen=True)
class Deferred:
    """A table's CREATE TABLE without its deferred keys, and the ALTER that adds them."""

    ddl: bytes
    alter: bytes | None  # None: nothing was deferred


def _columns(text: bytes) -> set[bytes]:
    return {name.replace(b"``", b"`") for name in _COLUMN_NAME.findall(text)}


def _table(quoted: bytes) -> bytes:
    return quoted[1:-1].replace(b"``", b"`")


def foreign_key_columns(ddls: dict[str, bytes]) -> dict[bytes, set[bytes]]:
    """Per table name (unquoted bytes), the columns that a foreign key uses there: its own
    referencing columns and the ones other tables' keys reference."""
    used: dict[bytes, set[bytes]] = {}
    for ddl in ddls.values():
        found = _CREATE.search(ddl)
        if found is None:
            continue
        own = _table(found.group(1))
        for columns, parent, referenced in _FOREIGN.findall(found.group(2)):
            used.setdefault(own, set()).update(_columns(columns))
            used.setdefault(_table(parent), set()).update(_columns(referenced))
    return used


def _deferrable(line: bytes, keep_columns: set[bytes]) -> bool:
    key = _KEY_COLUMNS.match(line)
    return key is not None and not (_columns(key.group(1)) & keep_columns)


def defer_keys(ddl: bytes, foreign: dict[bytes, set[bytes]]) -> Deferred:
    """`ddl` (a table's structure as the dump wrote it) with its deferrable keys left out."""
    found = _CREATE.search(ddl)
    if found is None:
        return Deferred(ddl, None)
    quoted, body, tail = found.group(1), found.group(2), found.group(3)
    if b"ENGINE=InnoDB" not in tail or b"PARTITION BY" in ddl or b"WITH SYSTEM VERSIONING" in ddl:
        return Deferred(ddl, None)
    lines = [line.rstrip(b",") for line in body.split(b"\n")]
    if not any(line.lstrip().startswith(b"PRIMARY KEY ") for line in lines):
        return Deferred(ddl, None)
    keep_columns = set(foreign.get(_table(quoted), set()))
    for line in lines:
        if (auto := _AUTO.match(line)) is not None:
            keep_columns.add(auto.group(1).replace(b"``", b"`"))
    fulltext = [line for line in lines if line.lstrip().startswith(b"FULLTEXT KEY ")]
    plain = [line for line in lines if line.lstrip().startswith((b"KEY ", b"SPATIAL KEY "))]
    chosen: set[int] = set()
    # Only the last plain keys, from the first one that stays: MariaDB lists a kind of key
    # in the order given, and the keys an ALTER adds come after the ones the table has.
    for line in reversed(plain):
        if not _deferrable(line, keep_columns):
            break
        chosen.add(id(line))
    if len(fulltext) == 1 and _deferrable(fulltext[0], keep_columns):
        chosen.add(id(fulltext[0]))
    kept = [line for line in lines if id(line) not in chosen]
    moved = [line for line in lines if id(line) in chosen]
    if not moved:
        return Deferred(ddl, None)
    create = b"CREATE TABLE %s (\n%s\n%s" % (quoted, b",\n".join(kept), tail)
    alter = b"ALTER TABLE %s %s;\n" % (
        quoted,
        b", ".join(b"ADD " + line.strip() for line in moved),
    )
    return Deferred(ddl[: found.start()] + create + ddl[found.end() :], alter)
