"""Key selections mean the same in Redis, in the in-memory stand-in and for session files."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from server.cache.keys import KeyMatch, KeySelection, escape_glob, glob_to_regex
from tests.cache.conftest import put_keys

NAMES = [
    "a", "b", "ab", "abc", "a*", "a?", "a[b]", "[x]", "x", "a\\b", "a-b", "a]", "a^",
    "user:1", "user:12", "user:x", "users", "Z", "z", "-", "]", "a.b", "a+b", "a\nb",
]  # fmt: skip
PATTERNS = [
    "*", "a*", "a?", "?", "a[bc]", "a[^b]", "a[a-c]", "a[c-a]", "[\\]]", "a\\*", "a\\?",
    "user:*", "user:?", "user:[0-9]*", "*[*]*", "a[", "[]", "[^]", "a\\\\b", "a.b", "a+b",
    "[a-]", "a[\\-]b", "*b", "a*c", "\\a",
]  # fmt: skip


@pytest.mark.parametrize("text", ["plain", "a*b?c[d]e\\f", "***", ""])
def test_an_escaped_text_matches_only_itself(text: str) -> None:
    pattern = glob_to_regex(escape_glob(text))
    assert pattern.fullmatch(text)
    assert not pattern.fullmatch(text + "x")
    assert not pattern.fullmatch("x" + text)


async def test_the_in_memory_matcher_agrees_with_redis_on_every_pattern(
    redis: Redis, namespace: str
) -> None:
    await put_keys(redis, (namespace + name for name in NAMES))
    for pattern in PATTERNS:
        cursor, found = 0, set()
        while True:
            cursor, keys = await redis.scan(
                cursor, match=escape_glob(namespace) + pattern, count=1000
            )
            found |= {
                (key if isinstance(key, str) else key.decode())[len(namespace) :] for key in keys
            }
            if cursor == 0:
                break
        ours = {name for name in NAMES if glob_to_regex(pattern).fullmatch(name)}
        assert ours == found, pattern


def test_a_selection_applies_under_its_prefix_only() -> None:
    names = ["cache:user:1", "cache:user:2", "cache:other", "user:1", "xcache:user:1"]
    globs = KeySelection(("user:*",), KeyMatch.GLOB)
    exact = KeySelection(("user:*", "other"), KeyMatch.EXACT)
    assert globs.select(names, "cache:") == ["cache:user:1", "cache:user:2"]
    assert exact.select([*names, "cache:user:*"], "cache:") == ["cache:other", "cache:user:*"]
    assert KeySelection().select(names, "cache:") == ["cache:user:1", "cache:user:2", "cache:other"]


def test_a_selection_survives_the_trip_between_workers() -> None:
    selection = KeySelection(("a*", "b"), KeyMatch.GLOB)
    assert KeySelection.from_json(selection.to_json()) == selection
