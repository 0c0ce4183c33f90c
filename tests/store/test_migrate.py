"""The migrations build exactly the schema the models declare, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import safecity.models  # noqa: F401  (every table on the metadata)
from safecity.store import make_engine, upgrade_to_head
from safecity.store.db import Base
from safecity.store.migrate import declared


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade_to_head(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"include_name": declared}), Base.metadata
        )
    assert diff == []
    assert {"alerts", "devices", "dead_letters", "ingest_batches", "watchlist_entries"} <= set(
        inspect(engine).get_table_names()
    )
    upgrade_to_head(database_url)  # running again is a no-op
    engine.dispose()
