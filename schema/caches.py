"""Strawberry's in-process caches, registered so that MEMORY clears them.

ParserCache and ValidationCache keep module-level LRUs shared by every request (one per
`maxsize`). Each extension instance holds the LRU it uses, so building the schema's own
extension factories once finds exactly the LRUs this schema fills, whatever sizes it chose.
"""

from __future__ import annotations

from typing import Any

from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.base import BaseSchema

from server.cache.registry import CacheRegistry


def register_graphql_caches(registry: CacheRegistry, schema: BaseSchema) -> None:
    for factory in getattr(schema, "extensions", ()):
        extension: Any = factory() if callable(factory) else factory
        if isinstance(extension, ParserCache):
            _register(registry, "GraphQL parser cache", extension.cached_parse_document)
        elif isinstance(extension, ValidationCache):
            _register(registry, "GraphQL validation cache", extension.cached_validate_document)


def _register(registry: CacheRegistry, name: str, lru: Any) -> None:
    if name in registry.names:
        return  # the same LRU twice: one schema lists the extension once
    registry.register_function(name, lru.cache_clear, lambda: int(lru.cache_info().currsize))
