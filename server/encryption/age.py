"""The age v1 file format (age-encryption.org/v1, c2sp.org/age), with the X25519 and scrypt
recipient types: what `age -d -i key.txt FILE` opens, and what `age -r ... -o FILE` writes.

Why not a binding such as pyrage: it encrypts by pulling from a file object (our pipeline
pushes), encrypts a passphrase file only whole in memory, and cannot seek. Here the writer is
a pipeline stage that takes bytes as they come, and the reader decrypts only the 64 KiB chunks
a read touches, so a one-table restore reads only that table's part of the file. The
primitives (X25519, HKDF-SHA-256, HMAC, ChaCha20-Poly1305, scrypt) are `cryptography`'s and
hashlib's; tests/encryption checks every direction against the real `age` CLI.

    header    age-encryption.org/v1, one stanza per recipient (the 16-byte file key wrapped
              for it), `--- ` and the header's HMAC (header.py)
    payload   a 16-byte nonce, then the plaintext in 64 KiB chunks, each sealed with
              ChaCha20-Poly1305 under a key derived from the file key and that nonce; the
              chunk's number and a last-chunk flag make its AEAD nonce
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from server.backup.stages import ByteSink
from server.encryption.header import (
    CHUNK,
    DEFAULT_WORK_FACTOR,
    FILE_KEY_BYTES,
    NONCE_BYTES,
    SEALED,
    TAG,
    AgeError,
    MalformedFile,
    NoMatchingIdentity,
    Source,
    header,
    hkdf,
    read_header,
    unwrap_file_key,
)
from server.encryption.keys import Identity, Passphrase, Recipient

__all__ = [
    "CHUNK",
    "AgeEncryptor",
    "AgeError",
    "MalformedFile",
    "NoMatchingIdentity",
    "Plaintext",
    "Source",
    "open_plaintext",
]


def _chunk_nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class AgeEncryptor:
    """A byte stage (see server/backup/stages.py): encrypts what it is given, in age's 64 KiB
    chunks, into the next sink. The header goes out at once; a full chunk is held until more
    bytes arrive, since only then is it known not to be the last."""

    def __init__(
        self,
        out: ByteSink,
        recipients: Sequence[Recipient] | Passphrase,
        *,
        work_factor: int = DEFAULT_WORK_FACTOR,
    ) -> None:
        self._out = out
        file_key = os.urandom(FILE_KEY_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        out.write(header(file_key, recipients, work_factor) + nonce)
        self._aead = ChaCha20Poly1305(hkdf(file_key, nonce, b"payload"))
        self._pending = bytearray()
        self._index = 0
        self.plaintext_size = 0

    def _seal(self, chunk: bytes | bytearray | memoryview, *, last: bool) -> None:
        self._out.write(self._aead.encrypt(_chunk_nonce(self._index, last), chunk, None))
        self._index += 1

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.plaintext_size += len(view)
        while view:
            if len(self._pending) == CHUNK:
                self._seal(self._pending, last=False)
                self._pending = bytearray()
            if not self._pending and len(view) > CHUNK:
                self._seal(view[:CHUNK], last=False)  # straight from the caller's buffer
                view = view[CHUNK:]
                continue
            take = min(CHUNK - len(self._pending), len(view))
            self._pending += view[:take]
            view = view[take:]

    def close(self) -> None:
        self._seal(self._pending, last=True)
        self._pending = bytearray()
        self._out.close()


class _DecryptingRaw(io.RawIOBase):
    """The plaintext of an age payload, seekable: a read decrypts (and authenticates) only
    the chunks it touches."""

    def __init__(self, source: Source, file_key: bytes, payload_start: int, size: int) -> None:
        super().__init__()
        self._source = source
        self._start = payload_start + NONCE_BYTES
        source.seek(payload_start)
        nonce = source.read(NONCE_BYTES)
        sealed = size - self._start
        if len(nonce) != NONCE_BYTES or sealed < TAG:
            raise MalformedFile("the age payload is missing or cut short")
        chunks = -(-sealed // SEALED)
        tail = sealed - (chunks - 1) * SEALED
        if tail < TAG or (tail == TAG and chunks > 1):
            raise MalformedFile("the age payload is cut short")
        self._aead = ChaCha20Poly1305(hkdf(file_key, nonce, b"payload"))
        self._last = chunks - 1
        self.size = sealed - chunks * TAG
        self._position = 0
        self._cached_index = -1
        self._cached = b""

    def _chunk(self, index: int) -> bytes:
        if index != self._cached_index:
            self._source.seek(self._start + index * SEALED)
            sealed = self._source.read(SEALED)
            try:
                plain = self._aead.decrypt(_chunk_nonce(index, index == self._last), sealed, None)
            except InvalidTag:
                raise MalformedFile(
                    f"the encrypted payload fails authentication at chunk {index} "
                    f"(byte {self._start + index * SEALED} of the file): it was altered or cut"
                ) from None
            self._cached_index, self._cached = index, plain
        return self._cached

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._position >= self.size:
            return 0
        index, offset = divmod(self._position, CHUNK)
        data = self._chunk(index)
        count = min(len(buffer), len(data) - offset)
        buffer[:count] = data[offset : offset + count]
        self._position += count
        return count


@dataclass(frozen=True)
class Plaintext:
    """An opened age file: a seekable reader of its plaintext, and the plaintext's size."""

    reader: BinaryIO
    size: int


def open_plaintext(
    source: Source,
    identities: Sequence[Identity],
    passphrases: Sequence[Passphrase],
    *,
    size: int,
) -> Plaintext:
    """Open the age file in `source` (at its start; `size` bytes long) with the first identity
    or passphrase that fits."""
    head = read_header(source)
    file_key = unwrap_file_key(head, identities, passphrases)
    raw = _DecryptingRaw(source, file_key, head.length, size)
    return Plaintext(io.BufferedReader(raw, buffer_size=CHUNK), raw.size)
