"""Offsite copies of backups: targets (S3, SFTP), the copy job, fetching and importing."""
