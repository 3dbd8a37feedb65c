"""Restoring a verified backup into the live database (job.py decides a restore's life)."""
