"""Reading the cache-clearing history."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.enums import CacheType
from server.db.models import CacheLog
from server.db.pagination import Page, PageRequest, paginate


async def list_cache_logs(
    session: AsyncSession, request: PageRequest, *, cache_type: CacheType | None = None
) -> Page[CacheLog]:
    query = select(CacheLog).order_by(CacheLog.created_at.desc(), CacheLog.id.desc())
    if cache_type is not None:
        query = query.where(CacheLog.cache_type == cache_type)
    return await paginate(session, query, request)
