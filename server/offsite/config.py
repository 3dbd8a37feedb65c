"""Offsite targets as the settings describe them (LUMBUNG_OFFSITE_TARGETS, a JSON list).

Secrets are SecretStr, or a `*_file` path read when the target is opened (and refused when
others may read it): never echoed back by the API, never in a log line or a child's argv or
environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="How the API and the catalog name it.")
    enabled: bool = True


class S3TargetConfig(_Target):
    """An S3-compatible bucket: AWS S3, MinIO, Backblaze B2, Cloudflare R2, SeaweedFS..."""

    kind: Literal["s3"]
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    endpoint_url: str | None = None  # unset: AWS itself
    region: str = "us-east-1"
    access_key_id: str | None = None
    access_key_id_file: Path | None = None
    secret_access_key: SecretStr | None = None
    secret_access_key_file: Path | None = None
    # Path-style URLs (endpoint/bucket/key) work with every S3-compatible server.
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    ca_bundle: Path | None = None
    part_size_mb: int = Field(16, ge=5, le=512)  # S3's smallest part is 5 MiB

    @model_validator(mode="after")
    def _one_source_each(self) -> S3TargetConfig:
        for value, path, name in (
            (self.access_key_id, self.access_key_id_file, "access_key_id"),
            (self.secret_access_key, self.secret_access_key_file, "secret_access_key"),
        ):
            if (value is None) == (path is None):
                raise ValueError(f"target {self.name}: give exactly one of {name}, {name}_file")
        if self.prefix.startswith("/") or ".." in self.prefix.split("/"):
            raise ValueError(f"target {self.name}: prefix must be relative, without '..'")
        return self

    @property
    def location(self) -> str:
        where = self.endpoint_url or "AWS"
        return f"s3://{self.bucket}/{self.prefix} at {where}"


class SFTPTargetConfig(_Target):
    """A folder on an SSH server, reached with a key (never a password) and a pinned host key."""

    kind: Literal["sftp"]
    host: str
    port: int = Field(22, ge=1, le=65535)
    username: str
    private_key_file: Path
    private_key_passphrase: SecretStr | None = None
    # The server's host key must be in this file (ssh's known_hosts format): an unknown or
    # changed host key is refused, never trusted on first use.
    known_hosts_file: Path
    path: str = "."

    @property
    def location(self) -> str:
        return f"sftp://{self.username}@{self.host}:{self.port}/{self.path}"


TargetConfig = Annotated[S3TargetConfig | SFTPTargetConfig, Field(discriminator="kind")]
