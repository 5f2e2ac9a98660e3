"""SQLite, the embedded default: a database file in a temporary folder (backend.py)."""
