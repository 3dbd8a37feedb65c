"""A table's SQL told apart into structure, rows and what follows the rows, however the
pieces read from the file fall."""

from __future__ import annotations

import pytest

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
