#!/usr/bin/env python3
"""Add a dependency to pyproject.toml and pin it in requirements.lock (`make add DEP=...`).

    python3 scripts/add_dependency.py croniter                 # [project] dependencies
    python3 scripts/add_dependency.py 'aiosmtpd>=1.4' --extra test

The requirement goes at the end of its list. Without a version bound it gets the version the
lock pins as its lower bound: pyproject.toml holds lower bounds, requirements.lock the exact
versions. The lock keeps every other pin (scripts/lock). If locking fails, pyproject.toml and
requirements.lock are left as they were. Standard library only: it runs before the venv exists.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
# PEP 508, as far as this needs it: a name, optional [extras], then version specifiers.
REQUIREMENT = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(\[[^\]]*\])?\s*(.*)")
SPECIFIER = re.compile(
    r"(~=|===?|>=|<=|!=|>|<)\s*[\w.*+!-]+(\s*,\s*(~=|===?|>=|<=|!=|>|<)\s*[\w.*+!-]+)*"
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def name_of(requirement: str) -> str:
    match = REQUIREMENT.match(requirement.strip())
    return canonical(match.group(1)) if match else requirement


def requirements(pyproject: dict[str, Any], extra: str | None) -> list[str]:
    project: dict[str, Any] = pyproject["project"]
    if extra is None:
        return list(project.get("dependencies", []))
    return list(project.get("optional-dependencies", {}).get(extra, []))


def with_requirement(text: str, extra: str | None, requirement: str) -> str:
    """`text` with `requirement` as the last item of the list (a multi-line TOML array)."""
    section = r"\[project\]" if extra is None else r"\[project\.optional-dependencies\]"
    key = "dependencies" if extra is None else re.escape(extra)
    pattern = rf"(^{section}\n(?:(?!^\[).*\n)*?^{key} = \[\n(?:.*\n)*?)(^\]\n)"
    found = re.search(pattern, text, re.MULTILINE)
    if found is None:
        raise SystemExit(f"pyproject.toml has no multi-line `{extra or 'dependencies'} = [` list")
    return text[: found.end(1)] + f'    "{requirement}",\n' + text[found.end(1) :]


def locked_version(name: str) -> str:
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        pinned = re.match(r"([A-Za-z0-9._-]+)==([^\s\\;]+)", line)
        if pinned and canonical(pinned.group(1)) == canonical(name):
            return pinned.group(2)
    raise SystemExit(f"requirements.lock does not pin {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("requirement", help="e.g. croniter or 'aiosmtpd>=1.4'")
    parser.add_argument("--extra", choices=["test", "dev"], help="an extra instead of [project]")
    args = parser.parse_args()
    match = REQUIREMENT.fullmatch(args.requirement.strip())
    if match is None or (match.group(3) and not SPECIFIER.fullmatch(match.group(3))):
        parser.error(f"give a name and, if you like, a version bound: {args.requirement!r}")
    name, extras, bound = match.group(1), match.group(2) or "", match.group(3)

    before = PYPROJECT.read_text(encoding="utf-8")
    lock_before = LOCK.read_bytes()
    current = tomllib.loads(before)
    if any(
        name_of(r) == canonical(name)
        for e in (None, "test", "dev")
        for r in requirements(current, e)
    ):
        raise SystemExit(
            f"{name} is in pyproject.toml already: change its bound there, then `make lock`"
        )
    requirement = f"{name}{extras}{bound}"
    PYPROJECT.write_text(with_requirement(before, args.extra, requirement), encoding="utf-8")
    try:
        subprocess.run([str(ROOT / "scripts" / "lock")], check=True)  # noqa: S603 - our own script
    except (subprocess.CalledProcessError, KeyboardInterrupt):
        PYPROJECT.write_text(before, encoding="utf-8")
        LOCK.write_bytes(lock_before)
        print(
            "locking failed: pyproject.toml and requirements.lock are as they were", file=sys.stderr
        )
        return 1
    version = locked_version(name)
    if not bound:
        requirement = f"{name}{extras}>={version}"
        PYPROJECT.write_text(with_requirement(before, args.extra, requirement), encoding="utf-8")
    added = requirements(tomllib.loads(PYPROJECT.read_text(encoding="utf-8")), args.extra)
    assert requirement in added, added
    where = "[project] dependencies" if args.extra is None else f"the {args.extra} extra"
    print(
        f"added {requirement} to {where}; requirements.lock pins {name}=={version}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
