"""The keys tokens are signed and verified with.

HMAC (HS*) with `LUMBUNG_JWT_SECRET`, or an asymmetric public key (RS*, ES*, PS*, EdDSA) with
`LUMBUNG_JWT_PUBLIC_KEY`, never a mix: letting one key serve both families is the classic
algorithm-confusion hole. In development with neither configured, a random secret is created
once and kept in a 0600 file under the data folder (git-ignored), so tokens survive restarts.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from server.errors import ConfigurationError
from server.settings import MIN_HMAC_KEY_BYTES, Settings

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEV_SECRET_FILE = "jwt-secret"  # noqa: S105 - a file name, not a secret


@dataclass(frozen=True, repr=False)
class TokenKeys:
    algorithms: tuple[str, ...]
    verifying_key: str
    signing_key: str | None  # None when tokens come from an outside identity provider
    generated_secret_file: Path | None = None

    def __repr__(self) -> str:  # the keys themselves never reach a log
        return f"TokenKeys(algorithms={self.algorithms!r})"


def _read_public_key(value: str) -> str:
    if value.lstrip().startswith("-----BEGIN"):
        return value
    path = Path(value)
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigurationError(
            "LUMBUNG_JWT_PUBLIC_KEY is neither a PEM key nor a readable file: "
            f"{path} ({exc.strerror})"
        ) from exc


def _dev_secret(data_dir: Path) -> tuple[str, Path]:
    path = data_dir / DEV_SECRET_FILE
    if path.exists():
        return path.read_text().strip(), path
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: two workers starting at once must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip(), path
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret, path


def resolve_token_keys(settings: Settings) -> TokenKeys:
    algorithms = tuple(settings.jwt_algorithms)
    unknown = set(algorithms) - HMAC_ALGORITHMS - ASYMMETRIC_ALGORITHMS
    if unknown:
        raise ConfigurationError(
            f"LUMBUNG_JWT_ALGORITHMS has unsupported values: {sorted(unknown)}"
        )

    if settings.jwt_public_key is not None:
        if not set(algorithms) <= ASYMMETRIC_ALGORITHMS:
            raise ConfigurationError(
                "LUMBUNG_JWT_PUBLIC_KEY is set, so LUMBUNG_JWT_ALGORITHMS may only list "
                "asymmetric algorithms (RS256, ES256, ...), not HS*"
            )
        return TokenKeys(algorithms, _read_public_key(settings.jwt_public_key), None)

    if not set(algorithms) <= HMAC_ALGORITHMS:
        raise ConfigurationError(
            "LUMBUNG_JWT_ALGORITHMS lists asymmetric algorithms: set LUMBUNG_JWT_PUBLIC_KEY too"
        )
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
        # RFC 7518 §3.2: at least as long as the hash (32 bytes for HS256, 64 for HS512).
        minimum = max(MIN_HMAC_KEY_BYTES, *(int(alg[2:]) // 8 for alg in algorithms))
        if len(secret.encode()) < minimum:
            raise ConfigurationError(
                f"LUMBUNG_JWT_SECRET is shorter than {minimum} bytes: "
                "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return TokenKeys(algorithms, secret, secret)
    if settings.is_production:  # the settings refuse this already; kept as a second lock
        raise ConfigurationError("LUMBUNG_JWT_SECRET is required in production")
    secret, path = _dev_secret(settings.data_dir)
    return TokenKeys(algorithms, secret, secret, generated_secret_file=path)
