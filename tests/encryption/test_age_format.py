"""Lumbung's age files against the real `age` CLI, both ways: age opens what Lumbung writes,
Lumbung opens what age writes, with public keys and with a passphrase; and the reader seeks,
and refuses what was altered."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from server.encryption.age import CHUNK, AgeEncryptor, MalformedFile, NoMatchingIdentity
from server.encryption.age import open_plaintext as _open
from server.encryption.keys import Identity, Passphrase, Recipient
from tests.encryption.age_cli import age_binary, keygen, run_on_terminal


class FileSink:
    def __init__(self, path: Path) -> None:
        self.handle = path.open("wb")

    def write(self, data: bytes | memoryview) -> None:
        self.handle.write(data)

    def close(self) -> None:
        self.handle.close()


def encrypt(path: Path, data: bytes, recipients: list[Recipient] | Passphrase, step: int) -> None:
    """Encrypt with Lumbung's stage, fed `step` bytes at a time as the pipeline would."""
    stage = AgeEncryptor(FileSink(path), recipients, work_factor=10)
    for start in range(0, len(data), step):
        stage.write(memoryview(data)[start : start + step])
    stage.close()


def open_plaintext(path: Path, identities: list[Identity], passphrases: list[Passphrase]) -> bytes:
    with path.open("rb") as handle:
        opened = _open(handle, identities, passphrases, size=path.stat().st_size)
        return opened.reader.read()


@pytest.mark.parametrize(
    ("size", "step"),
    [(0, 1), (1, 1), (CHUNK, 4096), (3 * CHUNK, 1 << 20), (3 * CHUNK + 17, 7777), (300_001, 1)],
)
def test_age_decrypts_what_lumbung_encrypts_to_public_keys(
    tmp_path: Path, size: int, step: int
) -> None:
    identity = keygen(tmp_path / "key.txt")
    other = Identity.generate()
    data = os.urandom(size)
    encrypt(tmp_path / "file.age", data, [other.recipient, identity.recipient], max(step, 1))
    result = subprocess.run(
        [age_binary(), "-d", "-i", str(tmp_path / "key.txt"), str(tmp_path / "file.age")],
        capture_output=True,
        check=True,
    )
    assert result.stdout == data


def test_lumbung_decrypts_what_age_encrypts_to_public_keys(tmp_path: Path) -> None:
    identity = keygen(tmp_path / "key.txt")
    data = os.urandom(5 * CHUNK + 123)
    (tmp_path / "plain").write_bytes(data)
    subprocess.run(
        [
            age_binary(),
            "-r",
            str(Identity.generate().recipient),
            "-r",
            str(identity.recipient),
            "-o",
            str(tmp_path / "file.age"),
            str(tmp_path / "plain"),
        ],
        check=True,
    )
    assert open_plaintext(tmp_path / "file.age", [identity], []) == data


def test_age_decrypts_what_lumbung_encrypts_to_a_passphrase(tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK + 5)
    encrypt(tmp_path / "file.age", data, Passphrase(b"correct horse battery"), 4096)
    out = tmp_path / "out"
    run_on_terminal(
        [age_binary(), "-d", "-o", str(out), str(tmp_path / "file.age")], [b"correct horse battery"]
    )
    assert out.read_bytes() == data


def test_lumbung_decrypts_what_age_encrypts_to_a_passphrase(tmp_path: Path) -> None:
    data = os.urandom(CHUNK + 1)
    (tmp_path / "plain").write_bytes(data)
    run_on_terminal(
        [age_binary(), "-p", "-o", str(tmp_path / "file.age"), str(tmp_path / "plain")],
        [b"a passphrase typed twice", b"a passphrase typed twice"],
    )
    passphrase = Passphrase(b"a passphrase typed twice")
    assert open_plaintext(tmp_path / "file.age", [], [passphrase]) == data
    with pytest.raises(NoMatchingIdentity):
        open_plaintext(tmp_path / "file.age", [], [Passphrase(b"a wrong one")])


def test_the_reader_seeks_to_any_byte_and_decrypts_only_what_it_reads(tmp_path: Path) -> None:
    identity = Identity.generate()
    data = os.urandom(10 * CHUNK + 999)
    encrypt(tmp_path / "file.age", data, [identity.recipient], 1 << 20)
    with (tmp_path / "file.age").open("rb") as handle:
        opened = _open(handle, [identity], [], size=(tmp_path / "file.age").stat().st_size)
        assert opened.size == len(data)
        for offset in (0, CHUNK - 1, 7 * CHUNK + 5, len(data) - 3):
            opened.reader.seek(offset)
            assert opened.reader.read(100) == data[offset : offset + 100]


def test_a_flipped_bit_in_the_payload_is_refused_where_it_is_read(tmp_path: Path) -> None:
    identity = Identity.generate()
    data = os.urandom(4 * CHUNK)
    path = tmp_path / "file.age"
    encrypt(path, data, [identity.recipient], CHUNK)
    raw = bytearray(path.read_bytes())
    raw[-2 * CHUNK] ^= 0x01  # inside the third chunk
    path.write_bytes(bytes(raw))
    with path.open("rb") as handle:
        opened = _open(handle, [identity], [], size=len(raw))
        assert opened.reader.read(CHUNK) == data[:CHUNK]  # the first chunk is intact
        with pytest.raises(MalformedFile, match="fails authentication at chunk"):
            opened.reader.read()


def test_a_file_cut_at_a_chunk_boundary_is_refused(tmp_path: Path) -> None:
    identity = Identity.generate()
    path = tmp_path / "file.age"
    encrypt(path, os.urandom(3 * CHUNK + 10), [identity.recipient], CHUNK)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - (10 + 16)])  # the whole last chunk gone
    with pytest.raises(MalformedFile):
        open_plaintext(path, [identity], [])


def test_a_file_for_someone_else_is_refused_with_no_matching_identity(tmp_path: Path) -> None:
    path = tmp_path / "file.age"
    encrypt(path, b"secret rows", [Identity.generate().recipient], 10)
    with pytest.raises(NoMatchingIdentity):
        open_plaintext(path, [Identity.generate()], [])


def test_an_altered_header_is_refused_by_its_mac(tmp_path: Path) -> None:
    identity = Identity.generate()
    path = tmp_path / "file.age"
    encrypt(path, b"rows", [identity.recipient, Identity.generate().recipient], 10)
    raw = path.read_bytes()
    # A stanza slipped in: the identity still opens its own, but the header is not the MACed one.
    path.write_bytes(raw.replace(b"\n--- ", b"\n-> grease x\n\n--- ", 1))
    with pytest.raises(MalformedFile, match="MAC"):
        open_plaintext(path, [identity], [])


def test_keys_read_back_as_age_keygen_wrote_them(tmp_path: Path) -> None:
    identity = keygen(tmp_path / "key.txt")
    public = subprocess.run(
        [age_binary("age-keygen"), "-y", str(tmp_path / "key.txt")],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()
    assert str(identity.recipient) == public
    assert Recipient.parse(public) == identity.recipient
    assert identity.encoded() in (tmp_path / "key.txt").read_text()
    assert "AGE-SECRET-KEY" not in repr(identity)
