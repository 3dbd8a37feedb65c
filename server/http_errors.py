"""An error as plain HTTP answers it: GraphQL's error shape (`{"data": null, "errors": [...]}`
with the API's code), so a client reads one kind of error whichever endpoint it called (the
GraphQL endpoint's refusals before parsing, the backup download)."""

from __future__ import annotations

import json

from starlette.responses import Response

from server.errors import ErrorCode, LumbungError, TokenExpired

# RFC 6750 §3.1, for an expired token only: every other refusal keeps the bare challenge, so
# a caller learns nothing about why its token failed.
EXPIRED_CHALLENGE = 'Bearer error="invalid_token", error_description="The access token expired"'


def error_response(error: LumbungError, status: int) -> Response:
    body = {
        "data": None,
        "errors": [{"message": error.message, "extensions": {"code": error.code.value}}],
    }
    headers = {}
    if isinstance(error, TokenExpired):
        headers["WWW-Authenticate"] = EXPIRED_CHALLENGE
    elif error.code is ErrorCode.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = "Bearer"
    return Response(
        json.dumps(body), status_code=status, media_type="application/json", headers=headers
    )
