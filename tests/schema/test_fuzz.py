"""A fuzz run: queries and mutations generated from the SDL, valid ones and ones that break
its rules, sent through the real app as an admin, in production mode.

Whatever comes in: never a 500, every error with a code from ErrorCode (and never INTERNAL,
which is a bug by definition), no exception text, and none of the secrets this test set.
The app runs on a SQLite copy of the demo database, with its backups in the test's temp
folder and a private Redis; restores and deletes need a filename the fuzzer cannot guess, so
the worst a mutation does is start a backup or clear a cache of this test's own.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import graphql
import httpx
import pytest
import redis as redis_sync
import redis.exceptions
import sqlalchemy.exc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from schema import SDL_PATH
from schema.errors import MASKED_MESSAGE
from server.errors import ErrorCode
from tests.support.app import make_settings, open_api
from tests.support.redis import RedisServer
from tests.support.tokens import JWT_SECRET

# About 20 s on a 2-core machine; every run draws new examples.
EXAMPLES = 800
CODES = {code.value for code in ErrorCode}


def _exception_names() -> set[str]:
    modules = (builtins, sqlalchemy.exc, redis.exceptions)
    return {
        name
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and name.endswith(("Error", "Exception"))
    }


EXCEPTION_NAME = re.compile(r"\b(" + "|".join(sorted(_exception_names())) + r")\b")
REDIS_PASSWORD = secrets.token_urlsafe(18)
DATABASE_PASSWORD = secrets.token_urlsafe(18)


@pytest.fixture
def redis_with_password() -> Iterator[str]:
    """A private Redis that wants a password, set over the wire (never in an argv)."""
    server = RedisServer().start()
    try:
        redis_sync.Redis(host=server.host, port=server.port).config_set(
            "requirepass", REDIS_PASSWORD
        )
        yield f"redis://:{REDIS_PASSWORD}@{server.host}:{server.port}/0"
    finally:
        server.cleanup()


def check(query: str, response: httpx.Response) -> None:
    context = f"{query}\n-> {response.status_code} {response.text[:2000]}"
    assert response.status_code < 500, context
    body = response.json()
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code in CODES, context
        assert code != "INTERNAL" or error["message"] == MASKED_MESSAGE, context
        assert code != "INTERNAL", f"an unexpected error (a bug): {context}"
        assert not EXCEPTION_NAME.search(error["message"]), context
    for secret in (JWT_SECRET, REDIS_PASSWORD, DATABASE_PASSWORD):
        assert secret not in response.text, context
    assert "Traceback" not in response.text, context


def test_generated_queries_and_mutations_never_break_the_api(
    tmp_path: Path, redis_with_password: str
) -> None:
    app_settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        environment="production",
        migrate_on_start=True,
        redis_url=redis_with_password,
        # SQLite has no use for it: it is here to prove it never comes back.
        database_password=DATABASE_PASSWORD,
    )
    sdl = graphql.build_schema(SDL_PATH.read_text())
    documents = st.one_of(
        from_schema(sdl, mode=Mode.POSITIVE), from_schema(sdl, mode=Mode.NEGATIVE)
    )
    sent: list[str] = []

    # Hypothesis drives a plain function, so the app lives in an event loop of the test's own,
    # kept between examples (its listeners and background backups run while requests do).
    with asyncio.Runner() as runner:
        opened = open_api(app_settings)
        api = runner.run(opened.__aenter__())
        try:
            headers = {"Authorization": f"Bearer {api.token()}"}

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(query=documents)
            def send(query: str) -> None:
                sent.append(query)
                request = api.client.post("/graphql", json={"query": query}, headers=headers)
                check(query, runner.run(request))

            started = time.monotonic()
            send()
            elapsed = time.monotonic() - started
        finally:
            runner.run(opened.__aexit__(None, None, None))

    mutations = [query for query in sent if query.lstrip().startswith("mutation")]
    assert len(sent) >= EXAMPLES and len(mutations) > EXAMPLES / 5, "the run fuzzed too little"
    print(f"{len(sent)} documents ({len(mutations)} mutations) in {elapsed:.1f} s")
