"""Clearing caches (clearCache) and its history (CacheLog).

service.py      runs what a request asks for, concurrently, and writes the CacheLog
request.py      what an admin may ask, checked before anything is touched
memory.py       MEMORY in this process, through registry.py (local_store.py without Redis)
database.py     DATABASE: this process's pool, the server's query cache
stores.py       REDIS and SESSION keys (redis_keys.py), FILE and session files (files.py)
broadcast.py    every server process clears its own MEMORY and pool, over Redis pub/sub
results.py      what became of each item; outcome.py, the whole clear
history.py      reading the CacheLog
"""
