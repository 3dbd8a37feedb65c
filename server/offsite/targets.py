"""What every offsite target does, and the configured targets by name.

A target is a folder of objects: a backup `F` is the object `F` and its manifest
`F.manifest.json`, written last (a copy without its manifest is not a copy). Its methods
block (boto3, paramiko): the copy job runs them in worker threads.

    upload()   writes a local file so that the name appears only once it is whole (S3: a
               multipart upload, invisible until completed; SFTP: `F.partial`, renamed by
               publish()); returns the name to verify
    read()     streams an object back (to verify it, or to fetch it)
    publish()  makes a verified upload appear under its name
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from server.errors import BackendUnavailable, NotFound
from server.offsite.config import S3TargetConfig, SFTPTargetConfig, TargetConfig

MANIFEST_SUFFIX = ".manifest.json"
MAX_MANIFEST_BYTES = 64 << 20
READ_BYTES = 1 << 20

Progress = Callable[[int], None]  # bytes done so far


class TargetFailed(BackendUnavailable):
    """A target is down, refuses the credentials, or failed a request; the message names the
    target and says why in words that carry no secret."""


class RemoteMissing(NotFound):
    """The object is not on the target."""


class Target(Protocol):
    @property
    def config(self) -> TargetConfig: ...

    def upload(self, local: Path, name: str, progress: Progress, cancel: threading.Event) -> str:
        """Copy `local` to the target; returns the name it is under until publish()."""
        ...

    def publish(self, staged: str, name: str) -> None: ...

    def put_small(self, name: str, data: bytes) -> None:
        """Write a small object (a manifest) atomically."""
        ...

    def read(
        self, name: str, sink: Callable[[bytes], None], progress: Progress, cancel: threading.Event
    ) -> int:
        """Stream the object into `sink`; returns its size. RemoteMissing when it is not there."""
        ...

    def get_small(self, name: str) -> bytes: ...

    def delete(self, name: str) -> None:
        """Delete the object (and any staged upload of it); an absent one is not an error."""
        ...

    def names(self) -> list[str]:
        """Every object name in the target's folder."""
        ...

    def close(self) -> None: ...


def check_cancel(cancel: threading.Event, target: str) -> None:
    if cancel.is_set():
        from server.errors import JobCancelled

        raise JobCancelled(f"The copy to {target} was stopped: the server is shutting down.")


class Targets:
    """The configured targets, by name, and how to reach each one."""

    def __init__(self, configs: list[TargetConfig], timeout: float) -> None:
        self._configs = {config.name: config for config in configs}
        self._timeout = timeout

    @property
    def all(self) -> list[TargetConfig]:
        return list(self._configs.values())

    @property
    def enabled(self) -> list[TargetConfig]:
        return [config for config in self._configs.values() if config.enabled]

    def config(self, name: str) -> TargetConfig:
        try:
            return self._configs[name]
        except KeyError:
            known = ", ".join(self._configs) or "none is configured (LUMBUNG_OFFSITE_TARGETS)"
            raise NotFound(f"No offsite target is named {name!r}; the targets: {known}.") from None

    def open(self, name: str) -> Target:
        """Connect to a target (blocking: call it in a worker thread)."""
        config = self.config(name)
        if isinstance(config, S3TargetConfig):
            from server.offsite.s3 import S3Target

            return S3Target(config, self._timeout)
        assert isinstance(config, SFTPTargetConfig)
        from server.offsite.sftp import SFTPTarget

        return SFTPTarget(config, self._timeout)
