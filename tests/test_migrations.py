"""The Alembic tree builds exactly the schema the models describe, on the suite's database kind."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from billow.core.db import Database, make_engine
from billow.migrations import runner
from billow.models import Base, EventWatermark
from billow.organizations import service as org_service
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


def _downgrade(engine: Engine, revision: str) -> None:
    config = runner.alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_event_watermarks_keep_their_rows_both_ways(database: Database) -> None:
    """0010 folds the three services' watermark tables into ``event_watermarks``; its downgrade
    splits them again; the rows go along both ways."""
    old_tables = {"event_errors": "event_error_watermarks", "draft_refresh": "draft_refresh_watermarks",
                  "pay_in_advance_fees": "pay_in_advance_watermarks"}
    with fresh_database(database, "billow_marks") as url:
        engine = make_engine(url)
        fresh = Database(url)
        try:
            runner.upgrade(engine)
            with fresh.unit_of_work() as session:
                organization_id = org_service.create_organization(session, "Marks").organization.id
                for position, service in enumerate(old_tables, start=1):
                    session.add(EventWatermark(service=service, organization_id=organization_id,
                                               last_event_id=position * 100))
            _downgrade(engine, "0008")
            with engine.connect() as connection:
                split = {service: connection.execute(text(f"SELECT last_event_id FROM {table}")).scalars().all()
                         for service, table in old_tables.items()}
                assert "event_watermarks" not in inspect(connection).get_table_names()
            assert split == {"event_errors": [100], "draft_refresh": [200], "pay_in_advance_fees": [300]}
            runner.upgrade(engine)
            with fresh.unit_of_work(write=False) as session:
                rows = session.execute(select(EventWatermark.service, EventWatermark.organization_id,
                                              EventWatermark.last_event_id).order_by(EventWatermark.service)).all()
            assert [tuple(row) for row in rows] == [("draft_refresh", organization_id, 200),
                                                    ("event_errors", organization_id, 100),
                                                    ("pay_in_advance_fees", organization_id, 300)]
            with engine.connect() as connection:
                assert not set(old_tables.values()) & set(inspect(connection).get_table_names())
        finally:
            fresh.dispose()
            engine.dispose()
