"""What a backup records about the database it dumped, measured by the database itself rather
than read from the dump's bytes: per-table content checksums taken inside the dump's own
consistent snapshot, and a fingerprint of every table's, view's, trigger's and routine's
definition.

A restore drill (server/drill/) measures the scratch database it restored into the same way
and compares, table by table. Evidence that came from the file could not catch a file that is
wrong from the start (a buggy dump tool, a wrong character set): the file would agree with
itself. These figures come from the server, so such a file fails its drill.

    Evidence.tables       table -> content checksum (None: not measured, e.g. schema-only)
    Evidence.definitions  "table `User`", "view `v`", "trigger `t`", "procedure `p`",
                          "function `f`" -> SHA-256 of the definition, normalised (below)
    Evidence.missing      why the content checksums are absent, when they are
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

# AUTO_INCREMENT=n moves with every insert and says nothing about the data a table holds.
_AUTO_INCREMENT = re.compile(r" AUTO_INCREMENT=\d+")


def fingerprint(definition: str, database: str | None = None) -> str:
    """The SHA-256 of a definition, with what differs between the live and a scratch copy
    of the same database taken out: the database's own name where it qualifies a name
    (`app`.`t` and `app_lumbung_drill`.`t` are the same table), and AUTO_INCREMENT=n."""
    text = _AUTO_INCREMENT.sub("", definition)
    if database:
        text = text.replace("`" + database.replace("`", "``") + "`.", "")
    return hashlib.sha256(text.strip().encode("utf-8", "surrogateescape")).hexdigest()


def object_key(kind: str, name: str) -> str:
    """How an object is named in `Evidence.definitions` and in a drill's problems:
    "table `User`", "trigger `a``b`" (backticks doubled, as MariaDB quotes names)."""
    return f"{kind} `{name.replace('`', '``')}`"


@dataclass
class Evidence:
    method: str  # how the checksums were computed: they compare only with the same method
    tables: dict[str, str | None] = field(default_factory=dict)
    definitions: dict[str, str] = field(default_factory=dict)
    missing: str | None = None
    # How long writes to the dumped tables waited while the dump's snapshot was joined.
    lock_ms: int | None = None
    # Row counts, measured on a drill's scratch database only (a backup's come from its dump).
    rows: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "tables": self.tables,
            "definitions": self.definitions,
            "missing": self.missing,
            "lockMs": self.lock_ms,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Evidence:
        return cls(
            method=str(value["method"]),
            tables={str(k): None if v is None else str(v) for k, v in value["tables"].items()},
            definitions={str(k): str(v) for k, v in value["definitions"].items()},
            missing=value.get("missing"),
            lock_ms=value.get("lockMs"),
        )
