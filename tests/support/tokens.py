"""The test JWT secret and the tokens made with it (admin unless told otherwise)."""

from __future__ import annotations

from datetime import timedelta

from server.auth.keys import resolve_token_keys
from server.auth.tokens import issue_token
from server.settings import Settings

# HS512 wants at least 64 bytes of secret.
JWT_SECRET = "test-secret-long-enough-for-hs512-0123456789abcdef0123456789abcdef"
HOUR = timedelta(hours=1)


def issue(
    settings: Settings, *, subject: str = "1", roles: list[str] | None = None, ttl: timedelta = HOUR
) -> str:
    """A token that `settings`' keys verify (admin by default)."""
    return issue_token(
        settings, resolve_token_keys(settings), subject=subject, roles=roles or ["admin"], ttl=ttl
    )


def token(roles: list[str] | None = None, ttl: timedelta = HOUR) -> str:
    """A token for servers started with LUMBUNG_JWT_SECRET=JWT_SECRET (admin by default)."""
    return issue(Settings(_env_file=None, jwt_secret=JWT_SECRET), roles=roles, ttl=ttl)


def admin_token() -> str:
    return token()


def auth(value: str | None = None) -> dict[str, str]:
    """The Authorization header (or graphql-transport-ws init payload) for a token; a fresh
    admin token by default."""
    return {"Authorization": f"Bearer {value or token()}"}
