"""The dump splitter cuts mariadb-dump's stream into sections wherever the chunks fall."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from server.backup.file_writer import WRITEBACK_BYTES
from server.backup.pipeline import BackupPipeline
from server.backup.sections import read_section
from server.backup.splitter import DumpSplitter

DUMP = b"""/*M!999999\\- enable the sandbox mode */
-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB
--
/*!40101 SET NAMES utf8mb4 */;

--
-- Table structure for table `User`
--

CREATE TABLE `User` (`id` int);

--
-- Dumping data for table `User`
--

LOCK TABLES `User` WRITE;
INSERT INTO `User` VALUES
(1,'-- not a marker'),
(2,'(x'),
(3,'a\\n(b');
UNLOCK TABLES;

--
-- Table structure for table `a``b`
--

CREATE TABLE `a``b` (`id` int);

--
-- Dumping data for table `a``b`
--

LOCK TABLES `a``b` WRITE;
INSERT INTO `a``b` VALUES
(7);
UNLOCK TABLES;

--
-- Dumping routines for database 'db'
--

-- Dump completed on 2026-11-26 10:00:00
"""


def split(
    path: Path, chunk_size: int
) -> tuple[list[tuple[str, str | None, bytes]], dict[str, int], bool]:
    with path.open("w+b") as out:
        writer = BackupPipeline(out, "zstd")
        splitter = DumpSplitter(writer.framer)
        for start in range(0, len(DUMP), chunk_size):
            splitter.feed(DUMP[start : start + chunk_size])
        completed = splitter.finish()
        writer.close()
        sections = [
            (s.kind, s.table, b"".join(read_section(out, s, "zstd"))) for s in writer.sections
        ]
    return sections, splitter.rows, completed


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 4096, len(DUMP)])
def test_sections_rows_and_completion_do_not_depend_on_chunk_boundaries(
    tmp_path: Path, chunk_size: int
) -> None:
    sections, rows, completed = split(tmp_path / "dump.zst", chunk_size)
    assert [(kind, table) for kind, table, _ in sections] == [
        ("header", None),
        ("table", "User"),
        ("table", "a`b"),
        ("routines", None),
    ]
    assert rows == {"User": 3, "a`b": 1}
    assert completed
    whole = b"".join(sql for _, _, sql in sections)
    assert whole == DUMP.split(b"\n", 1)[1], "every byte but the sandbox line, in order"
    assert sections[1][2].startswith(b"-- Table structure for table `User`\n")


def test_a_truncated_dump_is_not_complete(tmp_path: Path) -> None:
    with (tmp_path / "dump.sql").open("wb") as out:
        splitter = DumpSplitter(BackupPipeline(out, "none").framer)
        splitter.feed(DUMP[: DUMP.index(b"-- Dump completed")])
        assert not splitter.finish()


def dump_of(tables: dict[str, list[bytes]]) -> bytes:
    parts = [b"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n"]
    for name, rows in tables.items():
        quoted = name.encode()
        parts.append(
            b"\n--\n-- Table structure for table `%s`\n--\n\nCREATE TABLE `%s` (`id` int);\n"
            b"\n--\n-- Dumping data for table `%s`\n--\n\nLOCK TABLES `%s` WRITE;\n"
            % (quoted, quoted, quoted, quoted)
        )
        for first in range(0, len(rows), 500):  # one extended INSERT per 500 rows
            parts.append(b"INSERT INTO `%s` VALUES\n" % quoted)
            parts.append(b",\n".join(rows[first : first + 500]) + b";\n")
        parts.append(b"UNLOCK TABLES;\n")
        # a trigger follows its table's data; a line of its body may start with `(`
        parts.append(
            b"DELIMITER ;;\n/*!50003 CREATE*/ /*!50003 TRIGGER `t_%s` BEFORE INSERT ON `%s` "
            b"FOR EACH ROW SET NEW.id =\n(SELECT 1) */;;\nDELIMITER ;\n" % (quoted, quoted)
        )
    parts.append(b"-- Dump completed on 2026-11-26 10:00:00\n")
    return b"".join(parts)


def _split_in_chunks(
    dump: bytes, chunk_size: int, path: Path
) -> tuple[DumpSplitter, BackupPipeline]:
    """Feed `dump` to a splitter in chunks of chunk_size (0: one line per chunk) into `path`;
    the dump must end with its completion line."""
    if chunk_size:
        chunks = [dump[start : start + chunk_size] for start in range(0, len(dump), chunk_size)]
    else:
        chunks = dump.splitlines(keepends=True)
    with path.open("wb") as out:
        writer = BackupPipeline(out, "none")
        splitter = DumpSplitter(writer.framer)
        for chunk in chunks:
            splitter.feed(chunk)
        assert splitter.finish()
        writer.close()
    return splitter, writer


def _rows_dump() -> bytes:
    text = b"(a) -- not a marker, ( still not; UNLOCK TABLES; \\n(no) " * 4
    return dump_of(
        {
            "Long": [b"(%d,'%s','2026-01-02 03:04:05')" % (i, text) for i in range(3000)],
            "Short": [b"(%d)" % i for i in range(20000)],
            "Empty": [],
            "LongAgain": [b"(%d,'%s')" % (i, text) for i in range(1200)],
        }
    )


@pytest.mark.parametrize("chunk_size", [997, 4096, 1 << 16, 1 << 20, 0])
def test_rows_are_counted_exactly_whether_short_or_long(tmp_path: Path, chunk_size: int) -> None:
    """Long rows are counted with a pattern, short ones with `bytes.count`: both exact, with
    comment-like text, parentheses and UNLOCK TABLES inside values, a trigger after the data,
    and across chunks (chunk_size 0: one line per chunk, so that every kind of line, the
    `UNLOCK TABLES;` that ends the rows among them, once starts a chunk)."""
    dump = _rows_dump()
    splitter, writer = _split_in_chunks(dump, chunk_size, tmp_path / "dump.sql")
    assert splitter.rows == {"Long": 3000, "Short": 20000, "Empty": 0, "LongAgain": 1200}
    assert [s.table for s in writer.sections] == [None, "Long", "Short", "Empty", "LongAgain"]


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_a_large_file_is_handed_to_the_disk_as_it_grows(tmp_path: Path, compression: str) -> None:
    # 40 MiB that do not compress: the writer starts writeback twice on the way (every
    # WRITEBACK_BYTES), and the file still holds every byte in order, hashed as written.
    blocks = [os.urandom(1 << 20) for _ in range(40)]
    path = tmp_path / "big"
    with path.open("wb") as out:
        writer = BackupPipeline(out, compression)
        writer.framer.begin("table", "Big")
        for block in blocks:
            writer.framer.write(block)
        assert writer.file.written_back >= 2 * WRITEBACK_BYTES  # started while writing
        sha256 = writer.close()
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with path.open("rb") as file:
        assert b"".join(read_section(file, writer.sections[0], compression)) == b"".join(blocks)


def _one_line_dump(tables: dict[str, list[bytes]]) -> bytes:
    """MySQL's mysqldump format: each extended INSERT holds its rows on one line."""
    parts = [b"-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n"]
    for name, rows in tables.items():
        quoted = name.replace("`", "``").encode()
        parts.append(
            b"\n--\n-- Table structure for table `%s`\n--\n\nCREATE TABLE `%s` (`id` int);\n"
            b"\n--\n-- Dumping data for table `%s`\n--\n\nLOCK TABLES `%s` WRITE;\n"
            b"/*!40000 ALTER TABLE `%s` DISABLE KEYS */;\n" % ((quoted,) * 5)
        )
        for first in range(0, len(rows), 700):  # a new statement every 700 rows
            parts.append(
                b"INSERT INTO `%s` VALUES %s;\n" % (quoted, b",".join(rows[first : first + 700]))
            )
        parts.append(b"/*!40000 ALTER TABLE `%s` ENABLE KEYS */;\nUNLOCK TABLES;\n" % quoted)
    parts.append(b"-- Dump completed on 2026-11-26 10:00:00\n")
    return b"".join(parts)


@pytest.mark.parametrize("chunk_size", [997, 4096, 1 << 16, 0])
def test_rows_on_one_line_as_mysqldump_writes_them_are_counted_exactly(
    tmp_path: Path, chunk_size: int
) -> None:
    """MySQL's mysqldump: rows are told apart outside string literals, whatever the values
    hold (`),(`, `VALUES (`, escaped quotes and backslashes) and whatever the table's name."""
    tricky = b"'a),(b VALUES (c \\\\' d\\\\\\\\', -- UNLOCK TABLES; (e)'"
    dump = _one_line_dump(
        {
            "Long": [b"(%d,%s,'%s')" % (i, tricky, b"x" * 90) for i in range(2500)],
            "Short": [b"(%d)" % i for i in range(3000)],
            "Empty": [],
            "a'b": [b"(%d,%s)" % (i, tricky) for i in range(10)],
        }
    )
    splitter, writer = _split_in_chunks(dump, chunk_size, tmp_path / "dump.sql")
    assert splitter.rows == {"Long": 2500, "Short": 3000, "Empty": 0, "a'b": 10}
    assert [s.table for s in writer.sections] == [None, "Long", "Short", "Empty", "a'b"]


# Definer lines as mariadb-dump 10.11 writes them (a view, a trigger, a routine, an event), a
# routine it could not read, and rows whose text looks like a definer (it must not count).
_OBJECTS_DUMP = b"""-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB

--
-- Table structure for table `T`
--

CREATE TABLE `T` (`id` int, `note` text);

--
-- Dumping data for table `T`
--

LOCK TABLES `T` WRITE;
INSERT INTO `T` VALUES
(1,'x\\n/*!50013 DEFINER=`row`@`%` SQL SECURITY DEFINER */'),
(2,'CREATE DEFINER=`row2`@`%` PROCEDURE');
UNLOCK TABLES;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`trig``ger`@`10.0.0.%`*/ /*!50003 TRIGGER `t_bi` BEFORE INSERT ON `T` FOR EACH ROW SET NEW.note = 'DEFINER=`in`@`body`' */;;
DELIMITER ;

--
-- Dumping events for database 'db'
--

DELIMITER ;;
/*!50106 CREATE*/ /*!50117 DEFINER=`ev`@`localhost`*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY DO SELECT 1 */ ;;
DELIMITER ;

--
-- Dumping routines for database 'db'
--

DELIMITER ;;
CREATE DEFINER=`app`@`%` PROCEDURE `p`()
SELECT 1 ;;
DELIMITER ;

-- insufficient privileges to SHOW CREATE FUNCTION `secret``fn`
-- does app have permissions on mysql.proc?

CREATE DEFINER=`app`@`%` PROCEDURE `q`()
SELECT 2 ;;

--
-- Final view structure for view `V`
--

/*!50001 DROP VIEW IF EXISTS `V`*/;
/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */
/*!50001 VIEW `V` AS select 1 AS `one` */;

-- Dump completed on 2026-11-27  1:00:00
"""  # noqa: E501 - a dump's lines, as the tool writes them


@pytest.mark.parametrize("chunk_size", [0, 5, 97, 4096])
def test_definers_and_unreadable_routines_are_noted_per_section(
    tmp_path: Path, chunk_size: int
) -> None:
    splitter, writer = _split_in_chunks(_OBJECTS_DUMP, chunk_size, tmp_path / "dump.sql")
    assert [(s.kind, s.table, s.definers) for s in writer.sections] == [
        ("header", None, []),
        ("table", "T", ["`trig``ger`@`10.0.0.%`"]),
        ("events", None, ["`ev`@`localhost`"]),
        ("routines", None, ["`app`@`%`"]),
        ("view", "V", ["`root`@`localhost`"]),
    ]
    assert splitter.unreadable == ["FUNCTION `secret``fn`"]
    assert splitter.rows == {"T": 2}


@pytest.mark.parametrize("feed_size", [997, 1 << 16, 0])
def test_a_large_tables_rows_are_cut_into_chunks_of_whole_statements(
    tmp_path: Path, feed_size: int
) -> None:
    """Past `chunk_bytes` a table's rows go on in a new `rows` section, always from an INSERT
    line: each chunk holds whole statements, the rows of the chunks add up to the table's, and
    the file is still the dump itself, byte for byte. (The cut is looked for once per piece
    fed, so pieces here are smaller than the chunks; the dump tool's are 1 MiB.)"""
    dump = _rows_dump()
    chunks = (
        dump.splitlines(keepends=True)
        if not feed_size
        else [dump[i : i + feed_size] for i in range(0, len(dump), feed_size)]
    )
    path = tmp_path / "dump.sql"
    with path.open("w+b") as out:
        writer = BackupPipeline(out, "zstd")
        splitter = DumpSplitter(writer.framer, chunk_bytes=100_000)
        for chunk in chunks:
            splitter.feed(chunk)
        assert splitter.finish()
        writer.close()
        sql = {id(s): b"".join(read_section(out, s, "zstd")) for s in writer.sections}
    sections = writer.sections
    assert b"".join(sql[id(s)] for s in sections) == dump
    long_chunks = [s for s in sections if s.kind == "rows" and s.table == "Long"]
    assert len(long_chunks) >= 2  # ~0.75 MB of rows, in INSERTs of ~130 kB, cut past 100 kB
    assert [s.chunk for s in long_chunks] == list(range(1, len(long_chunks) + 1))
    assert not [s for s in sections if s.kind == "rows" and s.table in ("Empty",)]
    for table, total in splitter.rows.items():
        mine = [s for s in sections if s.kind == "rows" and s.table == table]
        first = next(s for s in sections if s.kind == "table" and s.table == table)
        first_rows = _rows_in(sql[id(first)])
        assert first_rows + sum(s.rows or 0 for s in mine) == total
        for section in mine:
            assert sql[id(section)].startswith(b"INSERT INTO `%s` VALUES\n" % table.encode())
            assert section.rows == _rows_in(sql[id(section)])


def _rows_in(sql: bytes) -> int:
    """Row lines before the end of a table's rows (a trigger's body may follow them)."""
    return sql.split(b"\nUNLOCK TABLES;\n")[0].count(b"\n(")
