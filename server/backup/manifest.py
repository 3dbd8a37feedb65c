"""The manifest beside each backup file: what it holds and how to check it. Written last,
fsynced and renamed into place: a backup without its manifest is not a finished backup."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.backup.evidence import Evidence
from server.backup.files import fsync_directory

FORMAT = "lumbung-backup/1"


@dataclass
class Section:
    kind: str  # header | table | rows | view | events | routines
    table: str | None
    offset: int = 0
    length: int = 0
    sha256: str = ""
    sql_bytes: int = 0
    rows: int | None = None
    # The accounts its views, triggers, routines or events are defined by (`user`@`host`, as
    # the dump writes them); None in manifests written before Lumbung recorded them.
    definers: list[str] | None = None
    # A `rows` section is a chunk of a large table's rows (its `table` section holds the
    # structure and the first rows): whole INSERT statements, numbered from 1 in file order.
    # Its `rows` are its own; a `table` section's `rows` count the whole table.
    chunk: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "table": self.table,
            "offset": self.offset,
            "length": self.length,
            "sha256": self.sha256,
            "sqlBytes": self.sql_bytes,
            "rows": self.rows,
            "definers": self.definers,
            **({} if self.chunk is None else {"chunk": self.chunk}),
        }

    @classmethod
    def from_json(cls, value: dict[str, object]) -> Section:
        return cls(
            kind=str(value["kind"]),
            table=None if value.get("table") is None else str(value["table"]),
            offset=int(value["offset"]),  # type: ignore[call-overload]
            length=int(value["length"]),  # type: ignore[call-overload]
            sha256=str(value["sha256"]),
            sql_bytes=int(value.get("sqlBytes", 0)),  # type: ignore[call-overload]
            rows=None if value.get("rows") is None else int(value["rows"]),  # type: ignore[call-overload]
            definers=None if value.get("definers") is None else [str(d) for d in value["definers"]],  # type: ignore[attr-defined]
            chunk=None if value.get("chunk") is None else int(value["chunk"]),  # type: ignore[call-overload]
        )


@dataclass(frozen=True)
class EncryptionInfo:
    """How the file is encrypted: age, to these recipients (public keys, or "passphrase").
    Sections' offsets and checksums are those of the plaintext; the file's size and SHA-256
    are those of the encrypted bytes on disk."""

    recipients: list[str]
    plaintext_size: int
    format: str = "age-encryption.org/v1"

    def to_json(self) -> dict[str, object]:
        return {
            "format": self.format,
            "recipients": self.recipients,
            "plaintextSize": self.plaintext_size,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> EncryptionInfo:
        if value.get("format") != "age-encryption.org/v1":
            raise ValueError(f"unknown encryption {value.get('format')!r}")
        return cls(
            recipients=[str(r) for r in value["recipients"]],
            plaintext_size=int(value["plaintextSize"]),
        )


@dataclass
class Manifest:
    file: str
    size: int
    sha256: str
    compression: str
    backup_type: str
    include_schema: bool
    include_data: bool
    tables: list[str]
    database: dict[str, str]  # engine, version, name
    tool: dict[str, str]  # name, version
    lumbung_version: str
    created_at: str
    completed_at: str
    sections: list[Section] = field(default_factory=list)
    description: str | None = None
    # Measured by the database in the dump's snapshot (evidence.py); None before Lumbung did.
    evidence: Evidence | None = None
    encryption: EncryptionInfo | None = None
    # How the dump was made: {"mode": "single" | "global-read-lock" | "lock-tables",
    # "connections": N, "table": the one dumped in ranges, "reason": why not in parallel};
    # None for SQLite and in manifests written before Lumbung recorded it.
    dump: dict[str, object] | None = None

    @property
    def plaintext_size(self) -> int:
        """The size of the framed sections: the file's, or its plaintext's when encrypted."""
        return self.size if self.encryption is None else self.encryption.plaintext_size

    def table_sections(self) -> dict[str, Section]:
        """Each table's first section (its structure and first rows), by table name."""
        return {s.table: s for s in self.sections if s.kind == "table" and s.table is not None}

    def sections_of(self, table: str) -> list[Section]:
        """All of a table's sections, in file order: its `table` section and its chunks."""
        return sorted(
            (s for s in self.sections if s.kind in ("table", "rows") and s.table == table),
            key=lambda s: s.offset,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "file": self.file,
            "size": self.size,
            "sha256": self.sha256,
            "compression": self.compression,
            "options": {
                "backupType": self.backup_type,
                "includeSchema": self.include_schema,
                "includeData": self.include_data,
                "tables": self.tables,
                "description": self.description,
            },
            "database": self.database,
            "tool": self.tool,
            "lumbung": {"version": self.lumbung_version},
            "createdAt": self.created_at,
            "completedAt": self.completed_at,
            "sections": [section.to_json() for section in self.sections],
            "evidence": None if self.evidence is None else self.evidence.to_json(),
            "encryption": None if self.encryption is None else self.encryption.to_json(),
            **({} if self.dump is None else {"dump": self.dump}),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Manifest:
        if value.get("format") != FORMAT:
            raise ValueError(f"unknown manifest format {value.get('format')!r}")
        options = value["options"]
        return cls(
            file=value["file"],
            size=int(value["size"]),
            sha256=value["sha256"],
            compression=value["compression"],
            backup_type=options["backupType"],
            include_schema=bool(options["includeSchema"]),
            include_data=bool(options["includeData"]),
            tables=list(options["tables"]),
            description=options.get("description"),
            database=dict(value["database"]),
            tool=dict(value["tool"]),
            lumbung_version=value["lumbung"]["version"],
            created_at=value["createdAt"],
            completed_at=value["completedAt"],
            sections=[Section.from_json(s) for s in value["sections"]],
            evidence=Evidence.from_json(value["evidence"]) if value.get("evidence") else None,
            encryption=None
            if value.get("encryption") is None
            else EncryptionInfo.from_json(value["encryption"]),
            dump=None if value.get("dump") is None else dict(value["dump"]),
        )


def write_manifest(path: Path, manifest: Manifest) -> None:
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(manifest.to_json(), handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    fsync_directory(path.parent)


def parse_manifest(data: bytes) -> Manifest:
    """A manifest from its bytes (one fetched from an offsite target)."""
    return Manifest.from_json(json.loads(data))


def read_manifest(path: Path) -> Manifest:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd) as handle:
        return Manifest.from_json(json.load(handle))
