"""Only admins get in: every bad token gets the same answer, over HTTP and over the websocket,
no resolver runs, and the refusal is one log line.

One app serves the whole table, configured as strictly as a deployment can be: RS256 tokens
from an identity provider, an exact issuer and audience, and the revocation list in Redis.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import event
from websockets.exceptions import ConnectionClosed

from server.auth.tokens import FORBIDDEN_MESSAGE, UNAUTHENTICATED_MESSAGE
from tests.support.app import Api, make_settings, open_api
from tests.support.asgi import serving
from tests.support.redis import RedisServer
from tests.support.tokens import JWT_SECRET
from tests.support.websocket import graphql_socket

QUERY = "{ backups { total } }"
# Reads the database at once: a subscription that started would show in the SQL count.
SUBSCRIPTION = "subscription { systemInfo(intervalSeconds: 1) { database { totalUsers } } }"
ISSUER = "https://id.example"
AUDIENCE = "lumbung"
PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = (
    PRIVATE_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
REVOKED_JTI = f"revoked-{uuid.uuid4().hex}"


def claims(**overrides: Any) -> dict[str, Any]:
    """A good admin token's claims, changed by `overrides` (None drops a claim)."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "sub": "1",
        "role": "admin",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def rs256(values: dict[str, Any], key: rsa.RSAPrivateKey = PRIVATE_KEY) -> str:
    return jwt.encode(values, key, algorithm="RS256")


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_the_public_key(values: dict[str, Any]) -> str:
    """The algorithm-confusion attack: HMAC-signed with the public key as the secret.
    PyJWT refuses to make such a token, so it is put together by hand."""
    values = {**values, "exp": int(values["exp"].timestamp()), "iat": None}
    header = base64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = base64url(json.dumps({k: v for k, v in values.items() if v is not None}).encode())
    signature = hmac.new(PUBLIC_PEM.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{base64url(signature.digest())}"


def _ago(seconds: int) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


# Tokens are made when the test runs, not at import: a suite slower than a token's lifetime
# must not turn "not valid yet" into "valid".
Maker = Callable[[], str | None]
UNAUTHENTICATED: dict[str, Maker] = {
    "missing": lambda: None,
    "garbage": lambda: "not-a-token",
    "alg none": lambda: jwt.encode(claims(), "", algorithm="none"),
    "HS token when RS is configured": lambda: hs256_with_the_public_key(claims()),
    "signed by another key": lambda: rs256(claims(), OTHER_KEY),
    "no exp": lambda: rs256(claims(exp=None)),
    "expired beyond the leeway": lambda: rs256(claims(exp=_ago(60))),
    "nbf in the future": lambda: rs256(claims(nbf=_ago(-60))),
    "wrong aud": lambda: rs256(claims(aud="another-api")),
    "no aud": lambda: rs256(claims(aud=None)),
    "iss a prefix of ours": lambda: rs256(claims(iss=ISSUER[:-1])),
    "iss a superstring of ours": lambda: rs256(claims(iss=ISSUER + ".evil")),
    "no sub": lambda: rs256(claims(sub=None)),
    "no jti while revocation is on": lambda: rs256(claims(jti=None)),
    "revoked jti": lambda: rs256(claims(jti=REVOKED_JTI)),
}
FORBIDDEN: dict[str, Maker] = {
    "non-admin role": lambda: rs256(claims(role="operator")),
    "no role at all": lambda: rs256(claims(role=None)),
}
CASES = [
    pytest.param(make, 401, "UNAUTHENTICATED", UNAUTHENTICATED_MESSAGE, 4401, id=name)
    for name, make in UNAUTHENTICATED.items()
] + [
    pytest.param(make, 403, "FORBIDDEN", FORBIDDEN_MESSAGE, 4403, id=name)
    for name, make in FORBIDDEN.items()
]


@pytest.fixture
async def gate(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Api]:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        jwt_secret=None,
        jwt_public_key=PUBLIC_PEM,
        jwt_algorithms=["RS256"],
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        redis_url=redis_server.url,
    )
    async with open_api(settings) as api:
        assert api.resources.revocation is not None
        await api.resources.revocation.revoke(REVOKED_JTI, expires_at=_ago(-300))
        yield api


@pytest.fixture
def statements(gate: Api) -> list[str]:
    """Every SQL statement the app runs from now on: none means no resolver ran."""
    seen: list[str] = []
    event.listen(
        gate.resources.engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[2])
    )
    return seen


def our_log_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The server's log lines: not the test client's (httpx), nor uvicorn's own
    "connection open/closed", which belong to the transport rather than to a refusal."""
    return [r for r in caplog.records if not r.name.startswith(("uvicorn", "httpx"))]


@pytest.mark.parametrize(("make", "status", "code", "message", "close_code"), CASES)
async def test_a_bad_token_gets_the_same_refusal_over_http(
    gate: Api,
    statements: list[str],
    caplog: pytest.LogCaptureFixture,
    make: Maker,
    status: int,
    code: str,
    message: str,
    close_code: int,
) -> None:
    token = make()
    caplog.set_level(logging.INFO)
    caplog.clear()
    response = await gate.post(QUERY, token=token)
    assert response.status_code == status
    assert response.json() == {
        "data": None,
        "errors": [{"message": message, "extensions": {"code": code}}],
    }
    if make is UNAUTHENTICATED["expired beyond the leeway"]:
        # RFC 6750: a client learns to refresh its token rather than to sign in again.
        assert response.headers["www-authenticate"] == (
            'Bearer error="invalid_token", error_description="The access token expired"'
        )
    elif status == 401:
        assert response.headers["www-authenticate"] == "Bearer"  # nothing else is told
    assert statements == []  # no resolver ran: not one SQL statement
    [line] = our_log_lines(caplog)
    assert (line.name, line.event) == ("lumbung.auth", "auth.denied")  # type: ignore[attr-defined]
    if token:
        assert token not in caplog.text  # the token itself is never logged


@pytest.mark.parametrize(("make", "status", "code", "message", "close_code"), CASES)
async def test_a_bad_token_gets_the_same_refusal_over_the_websocket(
    gate: Api,
    statements: list[str],
    caplog: pytest.LogCaptureFixture,
    make: Maker,
    status: int,
    code: str,
    message: str,
    close_code: int,
) -> None:
    token = make()
    caplog.set_level(logging.INFO)
    async with serving(gate.app) as url:
        caplog.clear()
        async with graphql_socket(url) as socket:
            payload = {"Authorization": f"Bearer {token}"} if token else {}
            # A client that does not wait for the ack: its subscription must not run either.
            await socket.connection.send(
                json.dumps({"type": "connection_init", "payload": payload})
            )
            await socket.subscribe(SUBSCRIPTION)
            with pytest.raises(ConnectionClosed) as closed:
                received = await socket.receive()
                raise AssertionError(f"the server answered: {received}")
        lines = our_log_lines(caplog)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == close_code
    assert statements == []
    [line] = lines
    assert (line.name, line.event) == ("lumbung.auth", "auth.denied")  # type: ignore[attr-defined]
    if token:
        assert token not in caplog.text


async def test_a_good_token_gets_in_over_both(gate: Api, statements: list[str]) -> None:
    """The control for the table: the same app lets a correct token through."""
    response = await gate.post(QUERY, token=rs256(claims()))
    assert (response.status_code, response.json()) == (200, {"data": {"backups": {"total": 0}}})
    async with serving(gate.app) as url, graphql_socket(url) as socket:
        assert (await socket.init({"token": rs256(claims())}))["type"] == "connection_ack"
        operation = await socket.subscribe(SUBSCRIPTION)
        async for payload in socket.stream(operation):
            assert payload["data"]["systemInfo"]["database"]["totalUsers"] == 6
            break
    assert statements


async def test_an_expiry_within_the_leeway_is_accepted(gate: Api) -> None:
    response = await gate.post(QUERY, token=rs256(claims(exp=_ago(3))))
    assert response.status_code == 200


@pytest.mark.parametrize("audience", [AUDIENCE, ["other", AUDIENCE]])
async def test_the_audience_may_be_a_list_that_includes_ours(gate: Api, audience: Any) -> None:
    assert (await gate.post(QUERY, token=rs256(claims(aud=audience)))).status_code == 200


async def test_a_header_that_is_not_bearer_is_unauthenticated(gate: Api) -> None:
    token = rs256(claims())
    response = await gate.post(QUERY, token=None, headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("alg", "status"),
    [("HS256", 200), ("HS512", 401)],
    ids=["the configured algorithm", "another HMAC algorithm"],
)
async def test_only_the_configured_algorithms_are_accepted(
    tmp_path: Path, alg: str, status: int
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path)
    async with open_api(settings) as api:
        token = jwt.encode(claims(iss=None, aud=None), JWT_SECRET, algorithm=alg)
        assert (await api.post(QUERY, token=token)).status_code == status


async def test_roles_may_come_as_a_list_in_a_nested_claim(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path, jwt_role_claim="realm_access.roles"
    )
    async with open_api(settings) as api:

        def hs(**values: Any) -> str:
            return jwt.encode(claims(iss=None, aud=None, **values), JWT_SECRET, algorithm="HS256")

        token = hs(role=None, realm_access={"roles": ["viewer", "admin"]})
        assert (await api.post(QUERY, token=token)).status_code == 200
        token = hs(role="admin", realm_access={"roles": ["viewer"]})
        assert (await api.post(QUERY, token=token)).status_code == 403


async def test_the_graphiql_page_opens_without_a_token_but_queries_do_not(
    tmp_path: Path,
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path)
    async with open_api(settings) as api:
        page = await api.client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()
        query = await api.client.get("/graphql", params={"query": QUERY})
        assert query.status_code == 401
