"""Private files (secrets, tokens, `.env`) and the tail of a log."""

from __future__ import annotations

import json
import os
from pathlib import Path

LOG_TAIL_BYTES = 4000


def write_private(path: Path, text: str) -> None:
    """Write a file only we can read, even if it already existed (O_CREAT's mode applies only
    to a new file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


def write_dotenv(directory: Path, values: dict[str, str]) -> None:
    """A 0600 `.env` in `directory`: settings (and secrets) for a server started there, in no
    process's argv or environment."""
    lines = [f"{key}={json.dumps(value)}" for key, value in values.items()]  # double-quoted
    write_private(directory / ".env", "\n".join(lines) + "\n")


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def read_from(path: Path, offset: int = 0, limit: int = LOG_TAIL_BYTES) -> str:
    """Text of `path` from byte `offset` on, at most its last `limit` bytes ("" if missing)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(offset, file_size(path) - limit))
            return handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    """The last `limit` bytes of a log, to quote when its process failed."""
    return read_from(path, 0, limit)
