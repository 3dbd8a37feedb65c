"""Restore drills: a backup restored into a scratch database and proven against what the
database held when it was made."""
