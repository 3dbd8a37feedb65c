"""A folder on an SSH server as an offsite target (paramiko).

Only a private key logs in (no password, no agent, no ~/.ssh keys), and the server must be in
the configured known_hosts file: an unknown or changed host key is refused. An upload goes to
`F.partial` and is renamed once verified, so a cut upload never leaves a file named `F`.
"""

from __future__ import annotations

import contextlib
import errno
import posixpath
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko

from server.encryption.keys import read_private_file
from server.errors import LumbungError
from server.offsite.config import SFTPTargetConfig
from server.offsite.targets import (
    MAX_MANIFEST_BYTES,
    READ_BYTES,
    Progress,
    RemoteMissing,
    TargetFailed,
    check_cancel,
)

PARTIAL = ".partial"
WRITE_BYTES = 1 << 20


class SFTPTarget:
    def __init__(self, config: SFTPTargetConfig, timeout: float) -> None:
        self.config = config
        self._where = f"offsite target {config.name!r} ({config.location})"
        key = self._private_key()
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(config.known_hosts_file))
        except OSError as exc:
            raise TargetFailed(
                f"{self._where}: its known_hosts_file {config.known_hosts_file} cannot be read "
                f"({exc.strerror})."
            ) from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                config.host,
                port=config.port,
                username=config.username,
                pkey=key,
                look_for_keys=False,
                allow_agent=False,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
            )
            self._sftp = client.open_sftp()
            channel = self._sftp.get_channel()
            assert channel is not None
            channel.settimeout(timeout)
        except paramiko.AuthenticationException:
            client.close()
            raise TargetFailed(
                f"{self._where} refused the key {config.private_key_file} for user "
                f"{config.username!r}: check that its public half is in authorized_keys."
            ) from None
        except paramiko.SSHException as exc:
            client.close()
            # RejectPolicy's refusal of an unknown host is an SSHException too.
            raise TargetFailed(f"{self._where}: SSH failed ({exc}).") from None
        except OSError as exc:
            client.close()
            raise TargetFailed(
                f"{self._where} is unreachable ({exc.strerror or type(exc).__name__}); "
                "it is retried later."
            ) from None
        self._client = client

    def _private_key(self) -> paramiko.PKey:
        path = self.config.private_key_file
        try:
            read_private_file(path, f"{self.config.name}.private_key_file")  # the mode check
        except LumbungError as exc:
            raise TargetFailed(exc.message) from None
        passphrase = self.config.private_key_passphrase
        try:
            return paramiko.PKey.from_path(
                path, passphrase.get_secret_value() if passphrase else None
            )
        except (paramiko.SSHException, ValueError) as exc:
            raise TargetFailed(
                f"{self._where}: its private_key_file {path} cannot be loaded "
                f"({type(exc).__name__}); is the passphrase right?"
            ) from None

    def _path(self, name: str) -> str:
        return posixpath.join(self.config.path, name)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError:
            raise RemoteMissing(f"{doing}: not on {self._where}.") from None
        except PermissionError:
            raise TargetFailed(f"{self._where} refused {doing}: permission denied.") from None
        except (TimeoutError, paramiko.SSHException, EOFError) as exc:
            raise TargetFailed(
                f"{self._where} failed while {doing} ({type(exc).__name__}); it is retried later."
            ) from None
        except OSError as exc:
            if exc.errno in (errno.ENOENT,):
                raise RemoteMissing(f"{doing}: not on {self._where}.") from None
            raise TargetFailed(
                f"{self._where} failed while {doing} ({exc.strerror or type(exc).__name__})."
            ) from None

    def upload(self, local: Path, name: str, progress: Progress, cancel: threading.Event) -> str:
        staged = name + PARTIAL
        with (
            self._errors(f"uploading {name}"),
            local.open("rb") as source,
            self._sftp.open(self._path(staged), "wb") as remote,
        ):
            remote.set_pipelined(True)
            done = 0
            while chunk := source.read(WRITE_BYTES):
                check_cancel(cancel, self.config.name)
                remote.write(chunk)
                done += len(chunk)
                progress(done)
        return staged

    def publish(self, staged: str, name: str) -> None:
        with self._errors(f"renaming {staged}"):
            # posix-rename@openssh.com replaces an older copy in one step.
            self._sftp.posix_rename(self._path(staged), self._path(name))

    def put_small(self, name: str, data: bytes) -> None:
        with self._errors(f"writing {name}"):
            with self._sftp.open(self._path(name + PARTIAL), "wb") as remote:
                remote.write(data)
            self._sftp.posix_rename(self._path(name + PARTIAL), self._path(name))

    def read(
        self, name: str, sink: Callable[[bytes], None], progress: Progress, cancel: threading.Event
    ) -> int:
        done = 0
        with self._errors(f"reading {name}"), self._sftp.open(self._path(name), "rb") as remote:
            remote.prefetch()
            while chunk := remote.read(READ_BYTES):
                check_cancel(cancel, self.config.name)
                sink(chunk)
                done += len(chunk)
                progress(done)
        return done

    def get_small(self, name: str) -> bytes:
        with self._errors(f"reading {name}"), self._sftp.open(self._path(name), "rb") as remote:
            if (remote.stat().st_size or 0) > MAX_MANIFEST_BYTES:
                raise TargetFailed(f"{self._where}: {name} is too large for a manifest.")
            return remote.read()

    def delete(self, name: str) -> None:
        for each in (name, name + PARTIAL):
            with contextlib.suppress(RemoteMissing), self._errors(f"deleting {each}"):
                self._sftp.remove(self._path(each))

    def names(self) -> list[str]:
        with self._errors("listing the folder"):
            return [
                entry.filename
                for entry in self._sftp.listdir_attr(self.config.path)
                if entry.st_mode is not None and stat.S_ISREG(entry.st_mode)
            ]

    def close(self) -> None:
        self._client.close()
