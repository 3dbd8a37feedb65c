"""A table's SQL told apart into structure, rows and what follows the rows, however the
pieces read from the file fall."""

from __future__ import annotations

import pytest

from server.backup.adapters.mysql_parallel import _Direct, header_statements, utf8mb4_only
from server.backup.adapters.mysql_parts import ROWS, structure_of, table_parts

TABLE = b"""--
-- Table structure for table `f`
--

DROP TABLE IF EXISTS `f`;
CREATE TABLE `f` (`id` int, `v` text);

--
-- Dumping data for table `f`
--

LOCK TABLES `f` WRITE;
/*!40000 ALTER TABLE `f` DISABLE KEYS */;
INSERT INTO `f` VALUES
(1,'UNLOCK TABLES;\\nLOCK TABLES x'),
(2,NULL);
INSERT INTO `f` VALUES
(3,'/*!40000 ALTER TABLE');
/*!40000 ALTER TABLE `f` ENABLE KEYS */;
UNLOCK TABLES;
DELIMITER ;;
/*!50003 CREATE*/ /*!50003 TRIGGER `t` BEFORE INSERT ON `f` FOR EACH ROW SET NEW.id =
(SELECT 1) */;;
DELIMITER ;"""
STRUCTURE = TABLE[: TABLE.index(b"LOCK TABLES `f`")]
ROW_SQL = TABLE[TABLE.index(b"INSERT INTO") : TABLE.index(b"/*!40000 ALTER TABLE `f` ENABLE")]
AFTER = TABLE[TABLE.index(b"DELIMITER ;;") :] + b"\n"  # the last line gets its newline


def _joined(pieces: list[bytes], start: str = "structure") -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for part, sql in table_parts(iter(pieces), start):
        out[part] = out.get(part, b"") + bytes(sql)
    return out


@pytest.mark.parametrize("size", [1, 2, 5, 17, 64, 4096])
def test_the_parts_do_not_depend_on_where_the_pieces_fall(size: int) -> None:
    pieces = [TABLE[i : i + size] for i in range(0, len(TABLE), size)]
    assert _joined(pieces) == {"structure": STRUCTURE, "rows": ROW_SQL, "after": AFTER}
    assert structure_of(iter(pieces)) == STRUCTURE


def test_a_chunk_section_starts_in_the_rows() -> None:
    chunk = TABLE[TABLE.index(b"INSERT INTO `f` VALUES\n(3") :]
    assert _joined([chunk], ROWS) == {
        "rows": b"INSERT INTO `f` VALUES\n(3,'/*!40000 ALTER TABLE');\n",
        "after": AFTER,
    }


def test_the_dump_header_is_run_statement_by_statement() -> None:
    header = (
        b"-- MariaDB dump 10.19\n--\n-- Host: x\n\n/*!40101 SET NAMES utf8mb4 */;\n"
        b"/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n\n"
    )
    assert header_statements(header) == [
        b"/*!40101 SET NAMES utf8mb4 */",
        b"/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */",
    ]


def test_rows_go_as_bytes_only_when_every_text_column_is_utf8mb4() -> None:
    table = b"/*!40101 SET character_set_client = utf8mb4 */;\nCREATE TABLE `t` (\n%s\n) %s;"
    utf8 = b"ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
    assert utf8mb4_only(table % (b"  `a` text", utf8))
    assert utf8mb4_only(table % (b"  `a` text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", utf8))
    assert not utf8mb4_only(table % (b"  `a` text CHARACTER SET latin1", utf8))
    assert not utf8mb4_only(table % (b"  `a` text", b"ENGINE=InnoDB DEFAULT CHARSET=utf8mb3"))


def test_a_section_that_is_not_the_tables_last_is_rows_to_its_end() -> None:
    # The rows of a table cut into chunk sections end in its last section only: the others
    # are not searched for the closing lines, and the first one still loses its lock and
    # DISABLE KEYS lines (however the pieces fall).
    first = TABLE[: TABLE.index(b"INSERT INTO `f` VALUES\n(3")]
    for size in (1, 7, 4096):
        pieces = [first[i : i + size] for i in range(0, len(first), size)]
        assert _joined_not_last(pieces, "structure") == {
            "structure": STRUCTURE,
            "rows": ROW_SQL[: ROW_SQL.index(b"INSERT INTO `f` VALUES\n(3")],
        }
    middle = b"INSERT INTO `f` VALUES\n(4,'UNLOCK TABLES;');\n"
    assert _joined_not_last([middle], ROWS) == {"rows": middle}


def _joined_not_last(pieces: list[bytes], start: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for part, sql in table_parts(iter(pieces), start, last=False):
        out[part] = out.get(part, b"") + bytes(sql)
    return out


class _Recorder(_Direct):
    """A connection's statement cutting, without the connection: what it would send."""

    def __init__(self, query_cap: int = 1 << 20) -> None:  # no connection
        self._pending = []
        self.query_cap = query_cap
        self.sent: list[bytes] = []

    def _send(self, parts: list[memoryview]) -> None:
        self.sent.append(b"".join(parts))


@pytest.mark.parametrize("size", [1, 3, 25, 64, 4096])
def test_rows_are_sent_in_queries_of_whole_inserts_however_the_pieces_fall(size: int) -> None:
    """Each query holds the statements that end in a piece, whole (`;\\n` inside a value
    is not an end), and together they are the rows' SQL, once."""
    pieces = [TABLE[i : i + size] for i in range(0, len(TABLE), size)]
    connection = _Recorder()
    for part, sql in table_parts(iter(pieces)):
        if part == ROWS:
            connection.write_rows(sql)
    connection._send_pending()  # what commit() sends first
    assert b"".join(connection.sent) == ROW_SQL
    for query in connection.sent:
        assert query.startswith(b"INSERT INTO `f` VALUES\n"), query
        assert query.endswith(b");\n"), query
    if size == 4096:  # one piece: both statements in one query
        assert connection.sent == [ROW_SQL]
    if size == 1:  # a piece a line: each statement goes as its last line comes
        assert len(connection.sent) == ROW_SQL.count(b";\n") == 2


@pytest.mark.parametrize("size", [1, 25, 4096])
@pytest.mark.parametrize("cap", [1, 60, 80])
def test_a_query_holds_whole_inserts_up_to_the_cap_or_one_longer_alone(size: int, cap: int) -> None:
    """The server refuses a query over its max_allowed_packet: a query holds as many whole
    statements as fit in the cap, and a statement longer than the cap goes alone."""
    pieces = [TABLE[i : i + size] for i in range(0, len(TABLE), size)]
    connection = _Recorder(query_cap=cap)
    for part, sql in table_parts(iter(pieces)):
        if part == ROWS:
            connection.write_rows(sql)
    connection._send_pending()
    assert b"".join(connection.sent) == ROW_SQL
    for query in connection.sent:
        assert query.startswith(b"INSERT INTO `f` VALUES\n"), query
        assert query.endswith(b");\n"), query
        assert len(query) <= cap or query.count(b";\n") == 1, (cap, query)
    statements = ROW_SQL.count(b";\n")
    if cap < min(len(s) for s in ROW_SQL.split(b";\n") if s):  # every statement is longer
        assert len(connection.sent) == statements
