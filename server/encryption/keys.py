"""age keys as people write them: recipients (`age1...`, public, what a backup is encrypted
to) and identities (`AGE-SECRET-KEY-1...`, private, what opens it), in Bech32 as age-keygen
prints them; and a passphrase, which is both (age's scrypt recipient).

Nothing here ever puts a secret in a message or a repr: errors name the file or the setting
the secret came from, never its text.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import bech32
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from server.errors import BadUserInput

RECIPIENT_HRP = "age"
IDENTITY_HRP = "age-secret-key-"
KEY_BYTES = 32


class KeyFormatError(ValueError):
    """A key that is not an age X25519 key; the message never quotes a secret."""


def _decode(text: str, hrp: str) -> bytes:
    # Bech32 is case-insensitive but never mixed-case; age writes identities in upper case.
    found, data = bech32.bech32_decode(text.strip().lower())
    if found != hrp or data is None:
        raise KeyFormatError(f"not an age key of the {hrp!r} kind")
    decoded = bech32.convertbits(data, 5, 8, False)
    if decoded is None or len(decoded) != KEY_BYTES:
        raise KeyFormatError("an age key holds 32 bytes")
    return bytes(decoded)


def _encode(hrp: str, value: bytes) -> str:
    data = bech32.convertbits(value, 8, 5, True)
    assert data is not None
    return str(bech32.bech32_encode(hrp, data))


@dataclass(frozen=True)
class Recipient:
    """An X25519 public key: `age1...`."""

    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> Recipient:
        key = _decode(text, RECIPIENT_HRP)
        X25519PublicKey.from_public_bytes(key)  # refuses what is no curve point encoding
        return cls(key)

    def __str__(self) -> str:
        return _encode(RECIPIENT_HRP, self.public_key)


@dataclass(frozen=True)
class Identity:
    """An X25519 private key: `AGE-SECRET-KEY-1...`. Its repr shows its public half only."""

    secret: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> Identity:
        return cls(_decode(text, IDENTITY_HRP))

    @classmethod
    def generate(cls) -> Identity:
        return cls(os.urandom(KEY_BYTES))

    @property
    def recipient(self) -> Recipient:
        private = X25519PrivateKey.from_private_bytes(self.secret)
        return Recipient(private.public_key().public_bytes_raw())

    def encoded(self) -> str:
        """The secret key as age-keygen writes it (for tests and key files only)."""
        return _encode(IDENTITY_HRP, self.secret).upper()

    def __repr__(self) -> str:
        return f"Identity(recipient={self.recipient})"


@dataclass(frozen=True)
class Passphrase:
    """A passphrase: age's scrypt recipient, and the identity that opens what it encrypted."""

    value: bytes = field(repr=False)

    def __repr__(self) -> str:
        return "Passphrase(***)"


def parse_recipients(lines: str, source: str) -> list[Recipient]:
    """Recipients from a list or a recipients file (age -R): one `age1...` a line, blank lines
    and `#` comments ignored. `source` names where they came from, for the error."""
    recipients = []
    for number, line in enumerate(lines.splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            recipients.append(Recipient.parse(text))
        except (KeyFormatError, ValueError) as exc:
            raise KeyFormatError(f"{source}, line {number}: {exc} (expected age1...)") from None
    return recipients


def parse_identities(text: str, source: str) -> list[Identity]:
    """Identities as age-keygen writes them (`# created: ...` comments, then the key)."""
    identities = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        try:
            identities.append(Identity.parse(value))
        except KeyFormatError:
            # Never the line itself: it may be a secret key with a typo.
            raise KeyFormatError(
                f"{source}, line {number}: not an age secret key (AGE-SECRET-KEY-1...)"
            ) from None
    if not identities:
        raise KeyFormatError(f"{source} holds no age secret key (AGE-SECRET-KEY-1...)")
    return identities


def read_private_file(path: Path, setting: str) -> str:
    """A secret file's text, refused when others than its owner may read or change it (as
    ssh refuses a private key that others can read). `setting` names it in the error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise BadUserInput(f"{setting} names {path}, which does not exist.") from None
    except OSError as exc:
        raise BadUserInput(
            f"{setting} names {path}, which cannot be read ({exc.strerror})."
        ) from None
    with os.fdopen(fd, encoding="utf-8") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise BadUserInput(f"{setting} names {path}, which is not a regular file.")
        if mode & 0o077:
            raise BadUserInput(
                f"{setting} names {path}, whose mode {stat.S_IMODE(mode):04o} lets others "
                f"read or change it; make it private first: chmod 600 {path}"
            )
        return handle.read()
