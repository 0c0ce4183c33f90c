"""Run the Alembic migrations that ship inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def declared(name: str | None, type_: str, parent_names: object) -> bool:
    """False for what a model's own DDL makes beside its table (SQLite's full-text tables, a
    PostgreSQL expression index): autogenerate and the schema check leave them alone (Alembic's
    `include_name`). Models name them in `Base.metadata.info["derived"]`."""
    from safecity.store.db import Base

    derived: set[str] = Base.metadata.info.get("derived", set())
    return name is None or name not in derived


def alembic_config(url: str) -> Config:
    """Build an Alembic config pointing at the packaged migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade_to_head(url: str) -> None:
    """Bring the database at `url` to the newest schema."""
    command.upgrade(alembic_config(url), "head")
