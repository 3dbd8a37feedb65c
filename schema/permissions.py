"""Field permissions. The HTTP view already refuses non-admins before any execution; this
second lock keeps every root field closed if a future transport forgets to."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from server.auth.tokens import FORBIDDEN_MESSAGE, UNAUTHENTICATED_MESSAGE
from server.errors import Forbidden, Unauthenticated


class IsAdmin(BasePermission):
    message = FORBIDDEN_MESSAGE

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is None:
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
        if not principal.is_admin:
            raise Forbidden(FORBIDDEN_MESSAGE)
        return True
