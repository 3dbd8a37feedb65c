"""Which keys a clear takes: all of them, some exact keys, or glob patterns, always under a prefix.

Patterns follow Redis's glob syntax (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\\x`), so a pattern
means the same in Redis, in the in-memory stand-in and against session file names.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

GLOB_METACHARACTERS = frozenset("*?[]\\")


class KeyMatch(enum.Enum):
    EXACT = "exact"
    GLOB = "glob"


def escape_glob(text: str) -> str:
    """`text` as a Redis glob that matches only itself (`a*b` -> `a\\*b`)."""
    return "".join("\\" + char if char in GLOB_METACHARACTERS else char for char in text)


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A regex that matches exactly what Redis's `stringmatchlen` matches for `pattern`."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            i, piece = _bracket(pattern, i + 1)
            out.append(piece)
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _bracket(pattern: str, i: int) -> tuple[int, str]:
    """Translate `[...]` starting after the `[`; return the index of its `]` and the regex."""
    negate = i < len(pattern) and pattern[i] == "^"
    if negate:
        i += 1
    parts: list[str] = []
    while i < len(pattern) and pattern[i] != "]":
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            i += 1
            parts.append(re.escape(pattern[i]))
        elif i + 2 < len(pattern) and pattern[i + 1] == "-":
            low, high = sorted((char, pattern[i + 2]))  # Redis accepts reversed ranges too
            parts.append(f"{re.escape(low)}-{re.escape(high)}")
            i += 2
        else:
            parts.append(re.escape(char))
        i += 1
    # Like Redis, an unclosed `[` runs to the end of the pattern.
    body = "".join(parts)
    if not body:
        return i, "[^\\s\\S]" if not negate else "[\\s\\S]"
    return i, f"[{'^' if negate else ''}{body}]"


@dataclass(frozen=True)
class KeySelection:
    """Everything (no keys given), or the given exact keys, or the given glob patterns.

    Keys and patterns are relative to a prefix: `user:*` under `cache:` is `cache:user:*`.
    """

    keys: tuple[str, ...] = ()
    match: KeyMatch = KeyMatch.EXACT

    @property
    def is_everything(self) -> bool:
        return not self.keys

    def scan_patterns(self, prefix: str) -> list[str]:
        """Redis MATCH patterns covering this selection under `prefix` (escaped)."""
        base = escape_glob(prefix)
        if self.is_everything:
            return [base + "*"]
        if self.match is KeyMatch.GLOB:
            return [base + pattern for pattern in self.keys]
        return [base + escape_glob(key) for key in self.keys]

    def exact_names(self, prefix: str) -> list[str]:
        """The full key names when the selection is exact keys (empty otherwise)."""
        if self.is_everything or self.match is KeyMatch.GLOB:
            return []
        return list(dict.fromkeys(prefix + key for key in self.keys))

    def matcher(self, prefix: str = "") -> re.Pattern[str]:
        """One regex for the whole selection under `prefix`, for stores that are not Redis."""
        return re.compile(
            "|".join(f"(?:{glob_to_regex(p).pattern})" for p in self.scan_patterns(prefix)),
            re.DOTALL,
        )

    def select(self, names: Iterable[str], prefix: str = "") -> list[str]:
        matcher = self.matcher(prefix)
        return [name for name in names if matcher.fullmatch(name)]

    def describe(self) -> str:
        if self.is_everything:
            return "*"
        shown = ", ".join(self.keys[:3])
        if len(self.keys) > 3:
            shown += f" and {len(self.keys) - 3} more"
        return f"{'patterns' if self.match is KeyMatch.GLOB else 'keys'} {shown}"

    def to_json(self) -> dict[str, object]:
        return {"keys": list(self.keys), "match": self.match.value}

    @classmethod
    def from_json(cls, value: dict[str, object]) -> KeySelection:
        keys = value.get("keys") or []
        assert isinstance(keys, list)
        return cls(tuple(str(key) for key in keys), KeyMatch(str(value.get("match", "exact"))))
