"""The Alembic tree builds exactly the schema the models describe, on the suite's database kind."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from billow.core.db import Database, make_engine
from billow.migrations import runner
from billow.models import Base


@contextmanager
def fresh_database(template: Database) -> Iterator[str]:
    if template.sqlite:
        yield f"sqlite:///{Path(tempfile.mkdtemp()) / 'migrated.db'}"
        return
    name = f"billow_migrate_{uuid.uuid4().hex[:8]}"
    admin = create_engine(template.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(template.url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migrations_match_models(database: Database) -> None:
    with fresh_database(database) as url:
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
