"""Bearer tokens: verify one into a Principal, check it is not revoked, apply the admin rule,
issue one for the CLI.

Every rejection carries the same message for its code, whatever the reason, so that a caller
learns nothing about why its token failed; the reason goes to the log, once, without the token.
When revocation is on, a token must carry a `jti` (there is no other way to revoke it), and a
revocation list that cannot be read turns every request away with BACKEND_UNAVAILABLE.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from server.auth.keys import TokenKeys
from server.auth.revocation import RevocationList
from server.errors import (
    BackendUnavailable,
    ConfigurationError,
    Forbidden,
    TokenExpired,
    Unauthenticated,
)
from server.settings import Settings

log = logging.getLogger("lumbung.auth")

UNAUTHENTICATED_MESSAGE = (
    "A valid admin token is required: send `Authorization: Bearer <token>` "
    "(an administrator can issue one with `lumbung token`)."
)
FORBIDDEN_MESSAGE = "Only administrators may use this API: the token does not carry the admin role."


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    subject: str
    roles: tuple[str, ...]
    is_admin: bool
    expires_at: datetime
    token_id: str | None = None

    @property
    def user_id(self) -> int | None:
        """The application's `User.id` when the subject is one (`sub: "1"`)."""
        return int(self.subject) if self.subject.isdigit() else None

    @property
    def actor_id(self) -> int:
        """What the catalog records as `createdBy`/`restoredBy`/`clearedBy`: the User id,
        or 0 for a subject that is not one (a service account of an identity provider)."""
        return self.user_id if self.user_id is not None else 0


def _claim(payload: Mapping[str, Any], path: str) -> Any:
    """`role`, or a dotted path into nested claims such as `realm_access.roles`."""
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _roles(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    return ()


class TokenVerifier:
    def __init__(
        self, settings: Settings, keys: TokenKeys, revocation: RevocationList | None = None
    ) -> None:
        self._keys = keys
        self._revocation = revocation
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._role_claim = settings.jwt_role_claim
        self._admin_role = settings.jwt_admin_role
        required = ["exp", "sub"]
        if self._issuer:
            required.append("iss")
        if self._audience:
            required.append("aud")
        self._required = required

    def verify(self, token: str, *, client: str = "-") -> Principal:
        """The Principal for a token, or Unauthenticated (logged once, with the reason)."""
        try:
            payload = jwt.decode(
                token,
                self._keys.verifying_key,
                algorithms=list(self._keys.algorithms),
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={
                    "require": self._required,
                    "verify_aud": self._audience is not None,
                    "verify_iss": self._issuer is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            # PyJWT checks the signature before `exp`: this token is genuine, only too old.
            deny(f"{type(exc).__name__}: {exc}", client=client)
            raise TokenExpired(UNAUTHENTICATED_MESSAGE) from None
        except jwt.PyJWTError as exc:
            # PyJWT's messages name the failed check ("Signature has expired") and never echo
            # the token or the key.
            deny(f"{type(exc).__name__}: {exc}", client=client)
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE) from None
        subject = payload.get("sub")
        if not isinstance(subject, str) or not subject:
            deny("sub claim is not a non-empty string", client=client)
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
        roles = _roles(_claim(payload, self._role_claim))
        return Principal(
            subject=subject,
            roles=roles,
            is_admin=self._admin_role in roles,
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            token_id=payload.get("jti") if isinstance(payload.get("jti"), str) else None,
        )

    async def authenticate_header(
        self, authorization: str | None, *, client: str = "-"
    ) -> Principal:
        """The admin Principal behind an `Authorization` header, or the error to answer with:
        Unauthenticated, Forbidden, or BackendUnavailable when revocation cannot be checked."""
        if not authorization:
            deny("no Authorization header", client=client)
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            deny("Authorization header is not `Bearer <token>`", client=client)
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
        principal = self.verify(token.strip(), client=client)
        if self._revocation is not None:
            await self._refuse_revoked(principal, self._revocation, client=client)
        require_admin(principal, client=client)
        return principal

    async def recheck(self, principal: Principal, *, client: str = "-") -> None:
        """For a connection that outlives one request: Unauthenticated once its token has been
        revoked since it was verified (BackendUnavailable when that cannot be known)."""
        if self._revocation is not None:
            await self._refuse_revoked(principal, self._revocation, client=client)

    async def _refuse_revoked(
        self, principal: Principal, revocation: RevocationList, *, client: str
    ) -> None:
        jti = principal.token_id
        if not jti:
            deny(
                "token has no jti, so it could not be revoked",
                client=client,
                subject=principal.subject,
            )
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
        try:
            revoked = await revocation.is_revoked(jti)
        except BackendUnavailable as exc:
            reason = type(exc.__cause__).__name__
            deny(
                f"revocation list unreachable ({reason})", client=client, subject=principal.subject
            )
            raise BackendUnavailable(exc.message) from None
        if revoked:
            deny(f"token revoked (jti {jti})", client=client, subject=principal.subject)
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)


def deny(reason: str, *, client: str, subject: str | None = None) -> None:
    log.warning(
        "access denied",
        extra={"event": "auth.denied", "reason": reason, "client": client, "sub": subject},
    )


def require_admin(principal: Principal, *, client: str = "-") -> None:
    if not principal.is_admin:
        deny("token lacks the admin role", client=client, subject=principal.subject)
        raise Forbidden(FORBIDDEN_MESSAGE)


def issue_token(
    settings: Settings, keys: TokenKeys, *, subject: str, roles: list[str], ttl: timedelta
) -> str:
    """A signed token for `subject` with `roles` (the CLI's `lumbung token`)."""
    if keys.signing_key is None:
        raise ConfigurationError(
            "tokens are verified with LUMBUNG_JWT_PUBLIC_KEY, so they must be issued by the "
            "identity provider that holds the private key, not by `lumbung token`"
        )
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    # A dotted claim path (realm_access.roles) nests; a plain name is a top-level claim.
    target = claims
    *parents, leaf = settings.jwt_role_claim.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = roles[0] if len(roles) == 1 and not parents else roles
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, keys.signing_key, algorithm=keys.algorithms[0])
