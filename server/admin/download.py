"""GET /backups/{id}/file: a backup's file, to an admin, as it lies in the backup folder.

GraphQL is no file transfer, so this is the API's one plain HTTP endpoint for data. It is held
to the GraphQL endpoint's rules: `Authorization: Bearer <admin token>` (revocation included),
refusals in GraphQL's error shape with the same codes and statuses, and one audit line per
download. The file is streamed from an O_NOFOLLOW descriptor (BackupFolder.open_backup), so
memory stays flat and a planted symlink leads nowhere. An encrypted backup leaves encrypted.

HEAD answers the same headers (size, checksum) without the file. POST takes the token from a
form field, `token`, for a browser: a navigation (a submitted form) cannot carry a header, and
only a navigation lets the browser save the stream to disk as it comes, where a script's fetch
would hold the whole file in memory. The token stays out of the URL, so out of access logs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from typing import BinaryIO
from urllib.parse import parse_qs

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from server.db.enums import JobStatus
from server.db.models import Backup
from server.errors import (
    BackendUnavailable,
    BadUserInput,
    Conflict,
    ErrorCode,
    LumbungError,
    NotFound,
    public_error,
)
from server.http_errors import error_response
from server.resources import Resources

log = logging.getLogger("lumbung.audit")

CHUNK_BYTES = 1024 * 1024
# A form holds one token: anything much larger is not the page's form.
FORM_LIMIT_BYTES = 16 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
STATUS_BY_CODE = {
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.BACKEND_UNAVAILABLE: 503,
}


def refusal(error: LumbungError) -> Response:
    return error_response(error, STATUS_BY_CODE.get(error.code, 500))


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await anyio.to_thread.run_sync(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


async def _completed_backup(resources: Resources, backup_id: int) -> Backup:
    async with resources.sessions() as session:
        backup = await session.get(Backup, backup_id)
    if backup is None:
        raise NotFound(f"There is no backup {backup_id}.")
    if backup.status is JobStatus.IN_PROGRESS:
        raise Conflict(
            f"Backup {backup.filename} is still being made; download it once it completes."
        )
    if backup.status is not JobStatus.COMPLETED:
        raise NotFound(f"Backup {backup.filename} failed and has no file to download.")
    return backup


async def _authorization(request: Request) -> str | None:
    """The request's `Authorization` header; for a POST without one, the form's `token` field
    as that header would carry it."""
    header = request.headers.get("authorization")
    if request.method != "POST" or header:
        return header
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type:
        return None  # nothing sent: no credentials
    if content_type != FORM_TYPE:
        raise BadUserInput(f"POST a form ({FORM_TYPE}) with the admin token in `token`.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT_BYTES:
            raise BadUserInput("The form is too large: it holds the admin token alone.")
    tokens = parse_qs(body.decode("latin-1")).get("token", [])
    return f"Bearer {tokens[0]}" if len(tokens) == 1 else None


async def download_backup(request: Request) -> Response:
    resources: Resources = request.app.state.resources
    client = request.client.host if request.client else "-"
    try:
        principal = await resources.tokens.authenticate_header(
            await _authorization(request), client=client
        )
        backup = await _completed_backup(resources, int(request.path_params["backup_id"]))
        handle = await anyio.to_thread.run_sync(resources.folder.open_backup, backup.filename)
    except LumbungError as error:
        return refusal(error)
    except Exception as exc:  # the catalog unreachable, and such: said as the API says it
        public = public_error(exc)
        if not isinstance(public, BackendUnavailable):
            raise
        return refusal(public)
    size = os.fstat(handle.fileno()).st_size
    headers = {
        # The name is one the server made (files.NAME_PATTERN): plain ASCII, no quotes.
        "Content-Disposition": f'attachment; filename="{backup.filename}"',
        "Content-Length": str(size),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        # What the file must hash to: a client checks its copy without a second request.
        "X-Backup-SHA256": backup.checksum or "",
    }
    if request.method == "HEAD":
        handle.close()
        return Response(media_type="application/octet-stream", headers=headers)
    log.info(
        "backup downloaded",
        extra={
            "event": "backup.download",
            "sub": principal.subject,
            "client": client,
            "backup_id": backup.id,
            "bytes": size,
        },
    )
    return StreamingResponse(
        _chunks(handle), media_type="application/octet-stream", headers=headers
    )
