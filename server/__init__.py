"""Lumbung: back up and restore MySQL/MariaDB, clear caches and watch the system, over GraphQL."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lumbung")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
