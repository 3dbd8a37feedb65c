"""Channel secrets (a webhook's URL and signing key) sealed in the catalog with Fernet, under a
key derived from LUMBUNG_SECRETS_KEY: the application that owns the database can read the
catalog, and must not read these. In development without a key, one is created once in a 0600
file under the data folder, as the development token secret is."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.errors import BadUserInput, JobFailed
from server.settings import Settings

DEV_KEY_FILE = "secrets-key"
_INFO = b"lumbung notification channel secrets"


def _fernet(key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _dev_key(data_dir: Path) -> str:
    path = data_dir / DEV_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: two workers starting at once must agree on one key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


class SecretBox:
    def __init__(self, key: str | None) -> None:
        self._fernet = _fernet(key) if key else None

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.secrets_key is not None:
            return cls(settings.secrets_key.get_secret_value())
        if settings.is_production:
            return cls(None)
        return cls(_dev_key(settings.data_dir))

    def seal(self, plain: str) -> str:
        if self._fernet is None:
            raise BadUserInput(
                "A webhook's URL and signing key are stored encrypted: set LUMBUNG_SECRETS_KEY "
                "(a long random string) first."
            )
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        if self._fernet is None:
            raise JobFailed("LUMBUNG_SECRETS_KEY is not set: the channel's secrets cannot be read.")
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise JobFailed(
                "The channel's secrets were sealed with another LUMBUNG_SECRETS_KEY: set its URL "
                "and signing key again."
            ) from None
