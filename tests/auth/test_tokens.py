"""Only admins get in: every bad token gets the same answer, no resolver runs, one log line."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import event

from server.auth.tokens import FORBIDDEN_MESSAGE, UNAUTHENTICATED_MESSAGE
from tests.conftest import JWT_SECRET, Api, make_settings, open_api

QUERY = "{ backups { total } }"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": "1",
        "role": "admin",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _hs(claims: dict[str, Any], secret: str = JWT_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


def _unsigned(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, None, algorithm="none")


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


NOW = datetime.now(UTC)
BAD_TOKENS: dict[str, str | None] = {
    "missing": None,
    "garbage": "not-a-token",
    "alg none": _unsigned(_claims()),
    "wrong secret": _hs(
        _claims(), secret="another-secret-that-is-also-long-enough-for-hs512-0123456789abcdef"
    ),
    "no exp": _hs(_claims(exp=None)),
    "expired beyond leeway": _hs(_claims(exp=NOW - timedelta(minutes=5))),
    "not yet valid": _hs(_claims(nbf=NOW + timedelta(minutes=5))),
    "no sub": _hs(_claims(sub=None)),
    "signed with HS512 when only HS256 is allowed": _hs(_claims(), alg="HS512"),
}


@pytest.fixture
def statements(api: Api) -> list[str]:
    seen: list[str] = []
    event.listen(
        api.resources.engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[2])
    )
    return seen


@pytest.mark.parametrize("name", list(BAD_TOKENS))
async def test_a_bad_token_is_unauthenticated_and_nothing_runs(
    api: Api, statements: list[str], name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lumbung.auth")
    response = await api.post(QUERY, token=BAD_TOKENS[name])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "data": None,
        "errors": [{"message": UNAUTHENTICATED_MESSAGE, "extensions": {"code": "UNAUTHENTICATED"}}],
    }
    assert statements == []  # no resolver ran: not one SQL statement
    denials = [r for r in caplog.records if r.name == "lumbung.auth"]
    assert len(denials) == 1
    if BAD_TOKENS[name]:
        assert BAD_TOKENS[name] not in caplog.text  # the token itself is never logged


async def test_a_header_that_is_not_bearer_is_unauthenticated(api: Api) -> None:
    response = await api.post(QUERY, token=None, headers={"Authorization": f"Basic {api.token()}"})
    assert response.status_code == 401


async def test_expiry_within_the_leeway_is_accepted(api: Api) -> None:
    token = _hs(_claims(exp=datetime.now(UTC) - timedelta(seconds=3)))
    response = await api.post(QUERY, token=token)
    assert response.status_code == 200
    assert response.json() == {"data": {"backups": {"total": 0}}}


async def test_a_non_admin_is_forbidden_and_nothing_runs(
    api: Api, statements: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lumbung.auth")
    response = await api.post(QUERY, token=api.token(roles=["operator"]))
    assert response.status_code == 403
    assert response.json()["errors"] == [
        {"message": FORBIDDEN_MESSAGE, "extensions": {"code": "FORBIDDEN"}}
    ]
    assert statements == []
    assert len([r for r in caplog.records if r.name == "lumbung.auth"]) == 1


async def test_roles_may_come_as_a_list_in_a_nested_claim(tmp_path: Any, database_url: str) -> None:
    settings = make_settings(database_url, tmp_path, jwt_role_claim="realm_access.roles")
    async with open_api(settings) as api:
        token = _hs(_claims(role=None, realm_access={"roles": ["viewer", "admin"]}))
        assert (await api.post(QUERY, token=token)).status_code == 200
        token = _hs(_claims(role="admin", realm_access={"roles": ["viewer"]}))
        assert (await api.post(QUERY, token=token)).status_code == 403


@pytest.mark.parametrize(
    "issuer",
    ["https://id.example", "https://id.example.evil", "https://id.exampl", None],
)
async def test_the_issuer_must_match_exactly(
    tmp_path: Any, database_url: str, issuer: str | None
) -> None:
    settings = make_settings(
        database_url, tmp_path, jwt_issuer="https://id.example", jwt_audience="lumbung"
    )
    async with open_api(settings) as api:
        token = _hs(_claims(iss=issuer, aud="lumbung"))
        expected = 200 if issuer == "https://id.example" else 401
        assert (await api.post(QUERY, token=token)).status_code == expected


@pytest.mark.parametrize("audience", ["lumbung", ["other", "lumbung"], "other", None])
async def test_the_audience_must_include_ours(
    tmp_path: Any, database_url: str, audience: Any
) -> None:
    settings = make_settings(database_url, tmp_path, jwt_audience="lumbung")
    async with open_api(settings) as api:
        token = _hs(_claims(aud=audience))
        expected = 200 if audience in ("lumbung", ["other", "lumbung"]) else 401
        assert (await api.post(QUERY, token=token)).status_code == expected


async def test_an_hs_token_is_refused_when_rs256_is_configured(
    tmp_path: Any, database_url: str
) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = make_settings(
        database_url, tmp_path, jwt_secret=None, jwt_public_key=public_pem, jwt_algorithms=["RS256"]
    )
    async with open_api(settings) as api:
        good = jwt.encode(_claims(), private, algorithm="RS256")
        # The algorithm-confusion attack: HMAC-signed with the public key as the secret
        # (PyJWT refuses to make such a token, so it is put together by hand).
        header = base64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = base64url(json.dumps(_claims(iat=None, exp=int(NOW.timestamp()) + 300)).encode())
        signature = hmac.new(
            public_pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256
        ).digest()
        confused = f"{header}.{payload}.{base64url(signature)}"
        assert (await api.post(QUERY, token=good)).status_code == 200
        assert (await api.post(QUERY, token=confused)).status_code == 401


async def test_the_graphiql_page_opens_without_a_token_but_queries_do_not(api: Api) -> None:
    page = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    query = await api.client.get("/graphql", params={"query": QUERY})
    assert query.status_code == 401
