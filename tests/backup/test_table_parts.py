"""A table's SQL told apart into structure, rows and what follows the rows, however the
pieces read from the file fall."""

from __future__ import annotations

import pytest

from server.backup.adapters.mysql_parallel import header_statements, utf8mb4_only
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
