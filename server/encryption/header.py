"""The age v1 header (age-encryption.org/v1, c2sp.org/age): the 16-byte file key wrapped
for each recipient (X25519) or for a passphrase (scrypt), and the header's MAC; written for new
files, parsed and opened for existing ones. The payload is age.py's."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.encryption.keys import Identity, Passphrase, Recipient

FORMAT = "age-encryption.org/v1"
VERSION_LINE = b"age-encryption.org/v1\n"
CHUNK = 64 * 1024
TAG = 16
SEALED = CHUNK + TAG
NONCE_BYTES = 16
FILE_KEY_BYTES = 16
COLUMNS = 64
MAX_HEADER_BYTES = 1 << 20
X25519_INFO = b"age-encryption.org/v1/X25519"
SCRYPT_SALT_LABEL = b"age-encryption.org/v1/scrypt"
# age's own default; a passphrase file takes about a second and 256 MiB to open at 18.
DEFAULT_WORK_FACTOR = 18
# Opening a file never costs more than 2^20 (1 GiB of scrypt memory), whatever it says.
MAX_WORK_FACTOR = 20
ZERO_NONCE = bytes(12)


class Source(Protocol):
    """What the reader needs of the encrypted file: reads, lines, and seeks."""

    def read(self, size: int = -1, /) -> bytes: ...
    def readline(self, size: int = -1, /) -> bytes: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...


class AgeError(Exception):
    """What goes wrong with an age file; messages never hold key material."""


class MalformedFile(AgeError):
    """The file is not an age v1 file, or its header or payload is damaged."""


class NoMatchingIdentity(AgeError):
    """None of the identities at hand opens the file."""


def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: bytes) -> bytes:
    """Unpadded canonical base64, as age requires; anything else is a damaged header."""
    try:
        value = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedFile("the age header holds invalid base64") from None
    if _b64(value).encode() != text:
        raise MalformedFile("the age header holds non-canonical base64")
    return value


def _scrypt_key(passphrase: Passphrase, salt: bytes, work_factor: int) -> bytes:
    n = 1 << work_factor
    return hashlib.scrypt(
        passphrase.value,
        salt=SCRYPT_SALT_LABEL + salt,
        n=n,
        r=8,
        p=1,
        maxmem=129 * 8 * n + (1 << 20),  # 128 * r * N, and some room
        dklen=32,
    )


@dataclass(frozen=True)
class Stanza:
    args: list[bytes]
    body: bytes

    def encoded(self) -> bytes:
        text = _b64(self.body)
        lines = [text[i : i + COLUMNS] for i in range(0, len(text), COLUMNS)]
        if not lines or len(lines[-1]) == COLUMNS:
            lines.append("")  # the body always ends with a line shorter than 64 columns
        return b"-> " + b" ".join(self.args) + b"\n" + "\n".join(lines).encode() + b"\n"


def _x25519_stanza(file_key: bytes, recipient: Recipient) -> Stanza:
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.public_key))
    wrap_key = hkdf(shared, share + recipient.public_key, X25519_INFO)
    body = ChaCha20Poly1305(wrap_key).encrypt(ZERO_NONCE, file_key, None)
    return Stanza([b"X25519", _b64(share).encode()], body)


def _scrypt_stanza(file_key: bytes, passphrase: Passphrase, work_factor: int) -> Stanza:
    salt = os.urandom(16)
    wrap_key = _scrypt_key(passphrase, salt, work_factor)
    body = ChaCha20Poly1305(wrap_key).encrypt(ZERO_NONCE, file_key, None)
    return Stanza([b"scrypt", _b64(salt).encode(), str(work_factor).encode()], body)


def _mac(file_key: bytes, head: bytes) -> bytes:
    return hmac.digest(hkdf(file_key, b"", b"header"), head, "sha256")


def header(
    file_key: bytes,
    recipients: Sequence[Recipient] | Passphrase,
    work_factor: int = DEFAULT_WORK_FACTOR,
) -> bytes:
    """The header that wraps `file_key` for the recipients (or the passphrase, alone: age
    never mixes a passphrase stanza with others)."""
    if isinstance(recipients, Passphrase):
        stanzas = [_scrypt_stanza(file_key, recipients, work_factor)]
    else:
        if not recipients:
            raise ValueError("an age file needs at least one recipient")
        stanzas = [_x25519_stanza(file_key, recipient) for recipient in recipients]
    head = VERSION_LINE + b"".join(s.encoded() for s in stanzas) + b"---"
    return head + b" " + _b64(_mac(file_key, head)).encode() + b"\n"


@dataclass(frozen=True)
class Header:
    stanzas: list[Stanza]
    mac_input: bytes  # the header up to and including `---`
    mac: bytes
    length: int  # bytes, up to the payload's nonce


def read_header(source: Source) -> Header:
    """Parse the header at the start of `source`, leaving it at the payload's nonce."""
    taken = 0

    def line() -> bytes:
        nonlocal taken
        value = source.readline(MAX_HEADER_BYTES - taken)
        taken += len(value)
        if not value.endswith(b"\n"):
            raise MalformedFile("the file ends inside its age header, or the header is too long")
        return value

    first = line()
    if first != VERSION_LINE:
        if first.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----"):
            raise MalformedFile("an armored age file: de-armor it first (age -d writes binary)")
        raise MalformedFile("not an age v1 file (no age-encryption.org/v1 line)")
    raw = bytearray(first)
    stanzas: list[Stanza] = []
    while True:
        current = line()
        if current.startswith(b"--- "):
            raw += b"---"
            mac = _unb64(current[4:-1])
            if not stanzas or len(mac) != 32:
                raise MalformedFile("the age header has no stanza or a malformed MAC")
            return Header(stanzas, bytes(raw), mac, taken)
        if not current.startswith(b"-> "):
            raise MalformedFile("the age header has a line that is neither a stanza nor its MAC")
        raw += current
        args = current[3:-1].split(b" ")
        if not all(args):
            raise MalformedFile("an age stanza has an empty argument")
        body = bytearray()
        while True:
            body_line = line()
            raw += body_line
            text = body_line[:-1]
            if len(text) > COLUMNS:
                raise MalformedFile("an age stanza's body has a line over 64 columns")
            body += text
            if len(text) < COLUMNS:
                break
        stanzas.append(Stanza(args, _unb64(bytes(body))))


def unwrap_file_key(
    head: Header, identities: Sequence[Identity], passphrases: Sequence[Passphrase]
) -> bytes:
    """The file key, from the first identity (or passphrase) that opens a stanza; the header's
    MAC is checked with it. NoMatchingIdentity when none does."""
    kinds = [s.args[0] for s in head.stanzas]
    if b"scrypt" in kinds and len(kinds) > 1:
        raise MalformedFile("an age header mixes a passphrase stanza with others")
    file_key = None
    for stanza in head.stanzas:
        if stanza.args[0] == b"X25519":
            file_key = _open_x25519(stanza, identities)
        elif stanza.args[0] == b"scrypt":
            file_key = _open_scrypt(stanza, passphrases)
        if file_key is not None:
            break
    if file_key is None:
        raise NoMatchingIdentity("none of the identities opens this file")
    if not hmac.compare_digest(_mac(file_key, head.mac_input), head.mac):
        raise MalformedFile("the age header's MAC does not match: the header was altered")
    return file_key


def _open_x25519(stanza: Stanza, identities: Sequence[Identity]) -> bytes | None:
    if len(stanza.args) != 2 or len(stanza.body) != FILE_KEY_BYTES + TAG:
        raise MalformedFile("a malformed X25519 stanza")
    share = _unb64(stanza.args[1])
    if len(share) != 32:
        raise MalformedFile("a malformed X25519 stanza")
    for identity in identities:
        private = X25519PrivateKey.from_private_bytes(identity.secret)
        try:
            shared = private.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:  # an all-zero shared secret: age requires aborting
            raise MalformedFile("an X25519 stanza with a low-order share") from None
        wrap_key = hkdf(shared, share + identity.recipient.public_key, X25519_INFO)
        try:
            return ChaCha20Poly1305(wrap_key).decrypt(ZERO_NONCE, stanza.body, None)
        except InvalidTag:
            continue
    return None


def _open_scrypt(stanza: Stanza, passphrases: Sequence[Passphrase]) -> bytes | None:
    if len(stanza.args) != 3 or len(stanza.body) != FILE_KEY_BYTES + TAG:
        raise MalformedFile("a malformed scrypt stanza")
    salt, factor = _unb64(stanza.args[1]), stanza.args[2].decode("ascii", "replace")
    if len(salt) != 16 or not factor.isdigit() or factor.startswith("0"):
        raise MalformedFile("a malformed scrypt stanza")
    if int(factor) > MAX_WORK_FACTOR:
        raise MalformedFile(f"the passphrase's work factor {factor} is above {MAX_WORK_FACTOR}")
    for passphrase in passphrases:
        wrap_key = _scrypt_key(passphrase, salt, int(factor))
        try:
            return ChaCha20Poly1305(wrap_key).decrypt(ZERO_NONCE, stanza.body, None)
        except InvalidTag:
            continue
    return None
