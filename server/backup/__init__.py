"""Backups and restores: the catalog history now; engines, pipeline and jobs as they land."""
