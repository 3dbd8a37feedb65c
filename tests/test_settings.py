"""Configuration: the seed's variables, production's refusals, secrets that stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.auth.keys import resolve_token_keys
from server.errors import ConfigurationError
from server.settings import load_settings

LONG_SECRET = "x" * 40


def test_the_default_is_a_sqlite_file_under_data() -> None:
    settings = load_settings(_env_file=None)
    assert settings.resolved_database_url().startswith("sqlite+aiosqlite:///")
    assert settings.resolved_database_url().endswith("/data/lumbung.db")
    assert settings.uses_default_database and settings.demo_data_enabled


def test_the_seeds_database_variables_compose_a_mysql_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_USER", "app")
    monkeypatch.setenv("DATABASE_PASSWORD", "p@ss:word/1")
    monkeypatch.setenv("DATABASE_NAME", "fiber")
    monkeypatch.setenv("DATABASE_HOST", "db.internal")
    settings = load_settings(_env_file=None)
    assert settings.resolved_database_url() == (
        "mysql+aiomysql://app:p%40ss%3Aword%2F1@db.internal:3306/fiber?charset=utf8mb4"
    )
    assert not settings.demo_data_enabled
    assert "p@ss" not in repr(settings)


def test_settings_come_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "LUMBUNG_APP_NAME=Fiber Teknologi Nusantara\nLUMBUNG_CORE_TABLES=User,Role\n"
    )
    settings = load_settings()
    assert settings.app_name == "Fiber Teknologi Nusantara"
    assert settings.core_tables == ["User", "Role"]


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({}, "LUMBUNG_JWT_SECRET must be set"),
        ({"jwt_secret": "short"}, "at least 32 bytes"),
        ({"jwt_secret": LONG_SECRET, "debug": True}, "LUMBUNG_DEBUG must be off"),
    ],
)
def test_production_refuses_insecure_defaults(overrides: dict[str, object], complaint: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None, environment="production", **overrides)
    assert complaint in caught.value.message


def test_a_refusal_never_echoes_a_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None, environment="production", database_password="hunter2-secret")
    assert "hunter2" not in str(caught.value)


def test_the_none_algorithm_is_never_allowed() -> None:
    with pytest.raises(ConfigurationError, match="none"):
        load_settings(_env_file=None, jwt_algorithms="HS256,none")


def test_production_turns_graphiql_introspection_and_suggestions_off() -> None:
    settings = load_settings(_env_file=None, environment="production", jwt_secret=LONG_SECRET)
    assert not settings.graphiql_enabled and not settings.introspection_enabled
    assert not settings.field_suggestions_enabled
    assert not settings.migrations_run_on_start


def test_a_short_secret_is_refused_in_development_too() -> None:
    with pytest.raises(ConfigurationError, match="shorter than 32 bytes"):
        resolve_token_keys(load_settings(_env_file=None, jwt_secret="short"))


def test_hs512_needs_a_64_byte_secret() -> None:
    with pytest.raises(ConfigurationError, match="shorter than 64 bytes"):
        resolve_token_keys(
            load_settings(_env_file=None, jwt_secret=LONG_SECRET, jwt_algorithms="HS512")
        )


def test_a_public_key_cannot_be_mixed_with_hmac_algorithms() -> None:
    with pytest.raises(ConfigurationError, match="only list asymmetric"):
        resolve_token_keys(
            load_settings(
                _env_file=None,
                jwt_public_key="-----BEGIN PUBLIC KEY-----",
                jwt_algorithms="RS256,HS256",
            )
        )


def test_development_creates_one_private_secret_and_keeps_it(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, data_dir=tmp_path / "data")
    first = resolve_token_keys(settings)
    second = resolve_token_keys(settings)
    assert first.signing_key == second.signing_key
    assert first.generated_secret_file is not None
    assert first.generated_secret_file.stat().st_mode & 0o777 == 0o600
    assert first.signing_key is not None and first.signing_key not in repr(first)


def test_revocation_is_on_exactly_when_redis_is_configured() -> None:
    assert not load_settings(_env_file=None).revocation_enabled
    with_redis = load_settings(_env_file=None, redis_url="redis://127.0.0.1:1/0")
    assert with_redis.revocation_enabled
    switched_off = load_settings(
        _env_file=None, redis_url="redis://127.0.0.1:1/0", jwt_revocation=False
    )
    assert not switched_off.revocation_enabled


def test_revocation_without_redis_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="set LUMBUNG_REDIS_URL too"):
        load_settings(_env_file=None, jwt_revocation=True)


@pytest.mark.parametrize("prefix", ["lumbung:", "lumbung:revoked-jti:", "lum"])
def test_no_cache_prefix_may_reach_lumbungs_own_redis_keys(prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="covers Lumbung's own Redis keys"):
        load_settings(_env_file=None, cache_redis_prefix=prefix)
    with pytest.raises(ConfigurationError, match="covers Lumbung's own Redis keys"):
        load_settings(_env_file=None, session_redis_prefix=prefix)


@pytest.mark.parametrize("url", ["redis://", "redis://:6379/0", "rediss:///0", "redis://:pw@/0"])
def test_a_redis_url_without_a_host_is_refused_naming_the_variable(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMBUNG_REDIS_URL", url)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None)
    assert caught.value.message == (
        "invalid configuration: LUMBUNG_REDIS_URL: the URL has no host (redis-py would take "
        "localhost): write it as redis://HOST:6379/0, or unix:///path/to/redis.sock"
    )


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "redis://:pw@cache.internal/2", "unix:///run/redis.sock"]
)
def test_a_redis_url_with_a_host_or_a_socket_is_taken(url: str) -> None:
    assert load_settings(_env_file=None, redis_url=url).redis_url is not None
