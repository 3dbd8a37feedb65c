"""Backup health: the `backupHealth` query and the figures /metrics exports."""
