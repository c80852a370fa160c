"""Migration 0013: plan override copies share their parent's code; a second live parent may not."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy.exc import IntegrityError

from billow.core.db import Database, make_engine
from billow.migrations import runner
from billow.models import Plan
from billow.organizations import service as org_service
from tests.conftest import fresh_database


def _plan(organization_id: object, **fields: object) -> Plan:
    return Plan(organization_id=organization_id, name="Pro", code="pro", interval="monthly", amount_cents=100,
                amount_currency="EUR", **fields)


def test_copies_share_the_code_of_their_parent_both_ways(database: Database) -> None:
    with fresh_database(database, "billow_overrides") as url:
        engine = make_engine(url)
        fresh = Database(url)
        try:
            runner.upgrade(engine)
            with fresh.unit_of_work() as session:
                organization_id = org_service.create_organization(session, "Copies").organization.id
                parent = _plan(organization_id)
                session.add(parent)
                session.flush()
                session.add_all([_plan(organization_id, parent_id=parent.id), _plan(organization_id, parent_id=parent.id)])
            with pytest.raises(IntegrityError), fresh.unit_of_work() as session:
                session.add(_plan(organization_id))
            config = runner.alembic_config(engine)
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                connection.exec_driver_sql("DELETE FROM plans WHERE parent_id IS NOT NULL")
                command.downgrade(config, "0012")
            runner.upgrade(engine)
            with fresh.unit_of_work(write=False) as session:
                assert [plan.code for plan in session.query(Plan)] == ["pro"]
        finally:
            fresh.dispose()
            engine.dispose()
