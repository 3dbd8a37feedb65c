"""Which subscriptions share one execution per process (schema/fanout.py)."""

from __future__ import annotations

import pytest

from schema.fanout import shared_key

PROGRESS = "subscription ($id: Int!) { backupProgress(id: $id) { sequence } }"


def test_progress_subscriptions_with_the_same_text_and_variables_share() -> None:
    first = shared_key(PROGRESS, {"id": 1}, None)
    assert first is not None
    assert shared_key(PROGRESS, {"id": 1}, None) == first
    assert shared_key(PROGRESS, {"id": 2}, None) != first
    restore = "subscription { restoreProgress(id: 3) { sequence } }"
    assert shared_key(restore, None, None) is not None


@pytest.mark.parametrize(
    "query",
    [
        "subscription { systemInfo(intervalSeconds: 5) { system { uptime } } }",
        "subscription { backupProgress(id: 1) { sequence } systemInfo { now } }",
        "query { backupProgress(id: 1) { sequence } }",
        "subscription { backupProgress(id: 1) { sequence }",  # does not parse
        "subscription A { backupProgress(id: 1) { sequence } } "
        "subscription B { systemInfo { now } }",
    ],
)
def test_anything_else_runs_alone(query: str) -> None:
    assert shared_key(query, {}, None) is None


def test_the_named_operation_decides() -> None:
    query = (
        "subscription A { backupProgress(id: 1) { sequence } } "
        "subscription B { systemInfo { now } }"
    )
    assert shared_key(query, {}, "A") is not None
    assert shared_key(query, {}, "B") is None
