"""What an admin asks to clear, checked before anything is touched.

- `cacheType` picks one kind; `clearAll: true` is the seed's "clear every kind at once" and
  is the same as `cacheType: ALL`.
- `specificKeys` narrows the clear to those keys, in every store that holds keys: Redis under
  the cache prefix (REDIS), Redis under the session prefix and session file names (SESSION),
  the in-memory stand-in (MEMORY). Kinds without keys (DATABASE, FILE) refuse them when asked
  by name, and are left alone when they come with ALL.
- `keyMatch` says how to read them: EXACT (the default, the seed's meaning) takes each as one
  key, `*?[]\\` included; GLOB takes each as a Redis glob pattern, applied within the prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from server.cache.keys import KeyMatch, KeySelection
from server.db.enums import CacheType
from server.errors import BadUserInput

MAX_DESCRIPTION = 191  # the seed's String column: VARCHAR(191)
MAX_KEYS = 1000
MAX_KEY_LENGTH = 1024
MAX_AGE_MINUTES = 10 * 366 * 24 * 60
EVERY_TYPE = (
    CacheType.MEMORY,
    CacheType.DATABASE,
    CacheType.SESSION,
    CacheType.FILE,
    CacheType.REDIS,
)
KEYED_TYPES = frozenset((CacheType.REDIS, CacheType.SESSION, CacheType.MEMORY))
AGED_TYPES = frozenset((CacheType.FILE, CacheType.SESSION))


@dataclass(frozen=True)
class ClearRequest:
    cache_type: CacheType
    selection: KeySelection = field(default_factory=KeySelection)
    dry_run: bool = False
    description: str | None = None
    older_than_minutes: int | None = None

    @property
    def types(self) -> tuple[CacheType, ...]:
        if self.cache_type is CacheType.ALL:
            return EVERY_TYPE
        return (self.cache_type,)

    def covers(self, cache_type: CacheType) -> bool:
        return cache_type in self.types


def build_request(
    *,
    cache_type: CacheType | None,
    clear_all: bool = False,
    specific_keys: Sequence[str] | None = None,
    key_match: KeyMatch = KeyMatch.EXACT,
    dry_run: bool = False,
    description: str | None = None,
    older_than_minutes: int | None = None,
) -> ClearRequest:
    """The request, or BadUserInput saying what to change."""
    if clear_all:
        if cache_type not in (None, CacheType.ALL):
            raise BadUserInput(
                "clearAll clears every cache type: leave cacheType out (or set it to ALL), or "
                f"set clearAll to false to clear only {cache_type.name}."
            )
        cache_type = CacheType.ALL
    if cache_type is None:
        raise BadUserInput("Say what to clear: a cacheType, or clearAll: true for every type.")
    keys = _keys(specific_keys or (), key_match)
    if keys and cache_type not in KEYED_TYPES | {CacheType.ALL}:
        raise BadUserInput(
            f"{cache_type.name} holds no keys: drop specificKeys, or pick REDIS, SESSION, "
            "MEMORY or ALL."
        )
    if older_than_minutes is not None:
        if not 0 <= older_than_minutes <= MAX_AGE_MINUTES:
            raise BadUserInput(f"olderThanMinutes must be between 0 and {MAX_AGE_MINUTES}.")
        if cache_type is not CacheType.ALL and cache_type not in AGED_TYPES:
            raise BadUserInput(
                "olderThanMinutes applies to files: use it with FILE, SESSION or ALL."
            )
    text = (description or "").strip() or None
    if text is not None and len(text) > MAX_DESCRIPTION:
        raise BadUserInput(
            f"description is {len(text)} characters long: keep it to {MAX_DESCRIPTION}."
        )
    return ClearRequest(
        cache_type=cache_type,
        selection=KeySelection(keys, key_match),
        dry_run=dry_run,
        description=text,
        older_than_minutes=older_than_minutes,
    )


def _keys(values: Sequence[str], key_match: KeyMatch) -> tuple[str, ...]:
    if len(values) > MAX_KEYS:
        raise BadUserInput(
            f"{len(values)} specificKeys given: send at most {MAX_KEYS} per request, or use "
            "keyMatch: GLOB with a pattern."
        )
    for value in values:
        if not value:
            raise BadUserInput(
                "specificKeys holds an empty key: remove it (to clear everything, send no "
                "specificKeys)."
            )
        if len(value) > MAX_KEY_LENGTH:
            raise BadUserInput(f"a key of specificKeys is longer than {MAX_KEY_LENGTH} characters.")
    return tuple(dict.fromkeys(values))
