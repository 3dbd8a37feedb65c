"""A drill's verdict: the scratch database, measured after the restore, against the evidence
the database gave when the backup was made (server/backup/evidence.py), table by table.

    problems   what differs: the drill FAILED (a table's rows, its columns or indexes, a view,
               trigger or routine, a table that did not come back, a row count)
    unproven   what could not be checked, and why (a backup made before Lumbung recorded
               evidence, evidence that could not be taken, events, which a drill never creates)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server.backup.evidence import Evidence, object_key
from server.backup.manifest import Manifest


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    unproven: list[str] = field(default_factory=list)


def _name(key: str) -> str:
    return key.split(" ", 1)[1] if " " in key else key


def compare(
    recorded: Evidence | None,
    restored: Evidence,
    manifest: Manifest,
    tables: list[str],
    *,
    objects: bool,
    events: bool = False,
) -> Verdict:
    """`recorded` is the catalog's evidence (None for a backup made before Lumbung recorded
    it); `objects`: the drill restored views and routines too (a whole FULL backup);
    `events`: the backup holds events, which a drill leaves out."""
    verdict = Verdict()
    held = manifest.table_sections()
    if recorded is None:
        verdict.unproven.append(
            "No evidence was recorded with this backup (it predates Lumbung's evidence, or "
            "LUMBUNG_BACKUP_EVIDENCE was off): the restored rows were compared with the file's "
            "own row counts only, and definitions were not compared."
        )
    elif recorded.missing and manifest.include_data:
        verdict.unproven.append(
            f"{recorded.missing} The restored rows were compared with the file's own row "
            "counts only."
        )
    if (
        manifest.evidence is not None
        and recorded is not None
        and manifest.evidence.to_json() != recorded.to_json()
    ):
        verdict.problems.append(
            "The manifest's evidence differs from the catalog's: the manifest beside the file "
            "was rewritten after the backup."
        )
    same_method = recorded is not None and recorded.method == restored.method
    for table in tables:
        key = object_key("table", table)
        if key not in restored.definitions:
            verdict.problems.append(f"Table {_name(key)} was not restored.")
            continue
        expected_definition = recorded.definitions.get(key) if recorded is not None else None
        if expected_definition is not None and expected_definition != restored.definitions[key]:
            verdict.problems.append(
                f"Table {_name(key)}: its columns or indexes differ from the table's when the "
                "backup was made."
            )
        if not manifest.include_data:
            continue
        section = held.get(table)
        count = restored.rows.get(table)
        if section is not None and section.rows is not None and count != section.rows:
            verdict.problems.append(
                f"Table {_name(key)}: {count} rows were restored, the backup file holds "
                f"{section.rows}."
            )
        expected = recorded.tables.get(table) if recorded is not None and same_method else None
        if expected is None:
            continue
        if restored.tables.get(table) != expected:
            verdict.problems.append(
                f"Table {_name(key)}: its rows differ from what the database held when the backup "
                f"was made (checksum {expected} then, {restored.tables.get(table)} restored)."
            )
    if recorded is not None and recorded.method != restored.method:
        verdict.unproven.append(
            f"The evidence was measured as {recorded.method}, the scratch copy as "
            f"{restored.method}: the rows could not be compared."
        )
    _compare_objects(verdict, recorded, restored, objects=objects)
    if events:
        verdict.unproven.append(
            "Events are never created by a drill (they would run on their schedule): they "
            "were not checked."
        )
    return verdict


def _compare_objects(
    verdict: Verdict, recorded: Evidence | None, restored: Evidence, *, objects: bool
) -> None:
    """Views, triggers, routines (and SQLite's indexes) of the restored set, both ways."""
    if recorded is None:
        return

    def relevant(key: str) -> bool:
        kind = key.split(" ", 1)[0]
        return kind in ("trigger", "index") or (objects and kind != "table")

    # The backup's evidence covers the triggers (and SQLite's indexes) of the tables it dumped,
    # which are the ones a drill restores, and its views and routines when it was FULL.
    then = {k: v for k, v in recorded.definitions.items() if relevant(k)}
    now = {k: v for k, v in restored.definitions.items() if relevant(k)}
    for key in sorted(then.keys() - now.keys()):
        verdict.problems.append(f"The {key.split(' ', 1)[0]} {_name(key)} was not restored.")
    for key in sorted(now.keys() - then.keys()):
        verdict.problems.append(
            f"The {key.split(' ', 1)[0]} {_name(key)} came back, but the database had no such "
            "object when the backup was made."
        )
    for key in sorted(then.keys() & now.keys()):
        if then[key] != now[key]:
            verdict.problems.append(
                f"The {key.split(' ', 1)[0]} {_name(key)}: its definition differs from the one "
                "the database had when the backup was made."
            )
