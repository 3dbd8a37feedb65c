"""Page/limit pagination shared by every history list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import BadUserInput

T = TypeVar("T")

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        if self.page < 1:
            raise BadUserInput(f"page must be 1 or more (got {self.page}); pages count from 1.")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise BadUserInput(
                f"limit must be between 1 and {MAX_LIMIT} (got {self.limit}); "
                "ask for the next page for more."
            )

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    page: int
    limit: int

    @property
    def page_count(self) -> int:
        return -(-self.total // self.limit)


async def paginate(session: AsyncSession, query: Select[Any], request: PageRequest) -> Page[Any]:
    """Run `query` (already ordered and filtered) for one page, and count its rows."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await session.scalars(query.limit(request.limit).offset(request.offset))).all()
    return Page(items=rows, total=total or 0, page=request.page, limit=request.limit)
