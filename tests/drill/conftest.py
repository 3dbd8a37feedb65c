"""The backup tests' MariaDB fixtures serve the drills too."""

from tests.backup.conftest import database, rich

__all__ = ["database", "rich"]
