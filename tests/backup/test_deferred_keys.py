"""Which keys a restore builds after the rows, and the DDL it creates the table with first."""

from __future__ import annotations

from server.backup.adapters.mysql_keys import defer_keys, foreign_key_columns

PARENT = b"""DROP TABLE IF EXISTS `p`;
CREATE TABLE `p` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `code` varchar(20) NOT NULL,
  `a` int(11) DEFAULT NULL,
  `b` varchar(20) DEFAULT NULL,
  `c` text DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `u` (`b`),
  KEY `ka` (`a`) COMMENT 'a, ( and `x`',
  KEY `kab` (`a`,`b`(5) DESC),
  FULLTEXT KEY `fc` (`c`)
) ENGINE=InnoDB AUTO_INCREMENT=50 DEFAULT CHARSET=utf8mb4 COMMENT='tbl';
/*!40101 SET character_set_client = @saved_cs_client */;
"""
CHILD = b"""CREATE TABLE `c` (
  `id` int(11) NOT NULL,
  `pid` int(11) DEFAULT NULL,
  `n` int(11) DEFAULT NULL,
  `m` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `m` (`m`),
  KEY `pid` (`pid`),
  KEY `n` (`n`),
  CONSTRAINT `fk` FOREIGN KEY (`pid`) REFERENCES `p` (`a`)
) ENGINE=InnoDB;
"""


def test_plain_and_full_text_keys_are_built_after_the_rows_in_one_alter() -> None:
    deferred = defer_keys(PARENT, {})
    assert deferred.alter == (
        b"ALTER TABLE `p` ADD KEY `ka` (`a`) COMMENT 'a, ( and `x`', "
        b"ADD KEY `kab` (`a`,`b`(5) DESC), ADD FULLTEXT KEY `fc` (`c`);\n"
    )
    assert b"  UNIQUE KEY `u` (`b`)\n) ENGINE=InnoDB AUTO_INCREMENT=50" in deferred.ddl
    assert deferred.ddl.startswith(b"DROP TABLE IF EXISTS `p`;\nCREATE TABLE `p` (\n")
    assert deferred.ddl.endswith(
        b"COMMENT='tbl';\n/*!40101 SET character_set_client = @saved_cs_client */;\n"
    )


def test_keys_a_foreign_key_needs_stay_and_so_do_the_plain_keys_before_them() -> None:
    """`pid` serves the foreign key, and `p`.`a` is what it references: both stay. `m` comes
    before `pid`: added after it, it would be listed after it, so it stays too; `n` is last."""
    foreign = foreign_key_columns({"p": PARENT, "c": CHILD})
    assert foreign == {b"c": {b"pid"}, b"p": {b"a"}}
    assert defer_keys(CHILD, foreign).alter == b"ALTER TABLE `c` ADD KEY `n` (`n`);\n"
    parent = defer_keys(PARENT, foreign)
    assert parent.alter == b"ALTER TABLE `p` ADD FULLTEXT KEY `fc` (`c`);\n"


def test_tables_without_a_primary_key_or_not_innodb_keep_their_keys() -> None:
    for ddl in (
        PARENT.replace(b"  PRIMARY KEY (`id`),\n", b""),
        PARENT.replace(b"ENGINE=InnoDB", b"ENGINE=MyISAM"),
        PARENT.replace(b"COMMENT='tbl';", b"COMMENT='tbl'\n PARTITION BY HASH (`id`);"),
    ):
        assert defer_keys(ddl, {}).alter is None
        assert defer_keys(ddl, {}).ddl == ddl


def test_a_key_on_the_auto_increment_column_stays() -> None:
    ddl = PARENT.replace(b"KEY `kab` (`a`,`b`(5) DESC)", b"KEY `kid` (`code`,`id`)")
    assert defer_keys(ddl, {}).alter == b"ALTER TABLE `p` ADD FULLTEXT KEY `fc` (`c`);\n"
