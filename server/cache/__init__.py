"""Cache clearing: the CacheLog history now; one clearer per cache type as they land."""
