"""The database: engine, sessions, the catalog models and their migrations."""
