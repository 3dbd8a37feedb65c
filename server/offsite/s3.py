"""An S3-compatible bucket as an offsite target (boto3).

A file larger than one part goes up as a multipart upload, one part in memory at a time: the
object exists only once the upload is completed, so a cut upload leaves none (its parts are
aborted now, or at the next attempt). boto3 is given its credentials explicitly and its own
checksums are left to S3's requirements: the copy job re-reads every object to check it
against the backup's own SHA-256 anyway.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from server.encryption.keys import read_private_file
from server.errors import LumbungError
from server.offsite.config import S3TargetConfig
from server.offsite.targets import (
    MAX_MANIFEST_BYTES,
    READ_BYTES,
    Progress,
    RemoteMissing,
    TargetFailed,
    check_cancel,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MIB = 1 << 20
REFUSED = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "403",
    "Forbidden",
}
MISSING = {"NoSuchKey", "404", "NotFound"}


def _secret(value: Any, path: Path | None, what: str) -> str:
    if value is not None:
        return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)
    assert path is not None
    try:
        return read_private_file(path, what).strip()
    except LumbungError as exc:
        raise TargetFailed(exc.message) from None


class S3Target:
    def __init__(self, config: S3TargetConfig, timeout: float) -> None:
        self.config = config
        self._where = f"offsite target {config.name!r} ({config.location})"
        access_key = _secret(
            config.access_key_id, config.access_key_id_file, f"{config.name}.access_key_id_file"
        )
        secret_key = _secret(
            config.secret_access_key,
            config.secret_access_key_file,
            f"{config.name}.secret_access_key_file",
        )
        self._client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            verify=str(config.ca_bundle) if config.ca_bundle else True,
            config=Config(
                s3={"addressing_style": config.addressing_style},
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"max_attempts": 3, "mode": "standard"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self._part = config.part_size_mb * MIB

    def _key(self, name: str) -> str:
        prefix = self.config.prefix
        return f"{prefix.rstrip('/')}/{name}" if prefix else name

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """boto3's errors in words that name the target and never a credential."""
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "unknown"))
            if code in MISSING:
                raise RemoteMissing(f"{doing}: not on {self._where}.") from None
            if code in REFUSED:
                raise TargetFailed(
                    f"{self._where} refused the credentials while {doing} ({code}): check its "
                    "access key and secret, and that they may write to the bucket."
                ) from None
            if code == "NoSuchBucket":
                raise TargetFailed(f"{self._where}: the bucket does not exist.") from None
            raise TargetFailed(f"{self._where} failed while {doing} ({code}).") from None
        except BotoCoreError as exc:
            raise TargetFailed(
                f"{self._where} is unreachable while {doing} ({type(exc).__name__}); it is "
                "retried later."
            ) from None

    def upload(self, local: Path, name: str, progress: Progress, cancel: threading.Event) -> str:
        key = self._key(name)
        bucket = self.config.bucket
        with self._errors(f"uploading {name}"):
            self._abort_stale(key)
            with local.open("rb") as handle:
                size = local.stat().st_size
                if size <= self._part:
                    self._client.put_object(Bucket=bucket, Key=key, Body=handle.read())
                    progress(size)
                    return name
                upload = self._client.create_multipart_upload(Bucket=bucket, Key=key)
                upload_id = upload["UploadId"]
                try:
                    parts: list[CompletedPartTypeDef] = []
                    done = 0
                    while chunk := handle.read(self._part):
                        check_cancel(cancel, self.config.name)
                        number = len(parts) + 1
                        answer = self._client.upload_part(
                            Bucket=bucket,
                            Key=key,
                            UploadId=upload_id,
                            PartNumber=number,
                            Body=chunk,
                        )
                        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                        done += len(chunk)
                        progress(done)
                    self._client.complete_multipart_upload(
                        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                    )
                except BaseException:
                    # Best effort: if the target is gone, the next attempt aborts it.
                    with contextlib.suppress(Exception):
                        self._client.abort_multipart_upload(
                            Bucket=bucket, Key=key, UploadId=upload_id
                        )
                    raise
        return name

    def _abort_stale(self, key: str) -> None:
        """Abort multipart uploads of `key` that an earlier, cut attempt left behind."""
        listing = self._client.list_multipart_uploads(Bucket=self.config.bucket, Prefix=key)
        for upload in listing.get("Uploads", []):
            if upload.get("Key") == key and "UploadId" in upload:
                self._client.abort_multipart_upload(
                    Bucket=self.config.bucket, Key=key, UploadId=upload["UploadId"]
                )

    def publish(self, staged: str, name: str) -> None:
        return None  # the completed upload is already the object

    def put_small(self, name: str, data: bytes) -> None:
        with self._errors(f"writing {name}"):
            self._client.put_object(Bucket=self.config.bucket, Key=self._key(name), Body=data)

    def read(
        self, name: str, sink: Callable[[bytes], None], progress: Progress, cancel: threading.Event
    ) -> int:
        done = 0
        with self._errors(f"reading {name}"):
            answer = self._client.get_object(Bucket=self.config.bucket, Key=self._key(name))
            for chunk in answer["Body"].iter_chunks(READ_BYTES):
                check_cancel(cancel, self.config.name)
                sink(chunk)
                done += len(chunk)
                progress(done)
        return done

    def get_small(self, name: str) -> bytes:
        with self._errors(f"reading {name}"):
            answer = self._client.get_object(Bucket=self.config.bucket, Key=self._key(name))
            if answer["ContentLength"] > MAX_MANIFEST_BYTES:
                raise TargetFailed(f"{self._where}: {name} is too large for a manifest.")
            return answer["Body"].read()

    def delete(self, name: str) -> None:
        key = self._key(name)
        with self._errors(f"deleting {name}"):
            self._abort_stale(key)
            self._client.delete_object(Bucket=self.config.bucket, Key=key)

    def names(self) -> list[str]:
        prefix = self._key("")
        found: list[str] = []
        with self._errors("listing the bucket"):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.config.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item.get("Key", "")
                    if "/" not in key[len(prefix) :]:
                        found.append(key[len(prefix) :])
        return found

    def close(self) -> None:
        self._client.close()
