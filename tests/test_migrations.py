"""The Alembic tree builds exactly the schema the models describe, on the suite's database kind."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from billow.core.db import Database, make_engine
from billow.migrations import runner
from billow.models import Base
from tests.conftest import fresh_database


def test_migrations_match_models(database: Database) -> None:
    with fresh_database(database, "billow_migrate") as url:
        engine = make_engine(url)
        try:
            runner.upgrade(engine)
            runner.upgrade(engine)  # idempotent
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                diff = compare_metadata(context, Base.metadata)
                tables = set(inspect(connection).get_table_names())
        finally:
            engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"
    assert set(Base.metadata.tables) <= tables
