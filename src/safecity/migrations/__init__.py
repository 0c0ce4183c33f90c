"""Alembic migrations of the registry database (never edit one that has been released)."""
