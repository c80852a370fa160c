"""PostgreSQL's pooled connections are checked before use only after they sat idle: a connection
the server closed meanwhile is replaced, and one in steady use costs no extra round trip."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from billow.core import db as core_db
from billow.core.db import Database, make_engine
from billow.events import service as events_service
from billow.events.schemas import EventIn
from billow.migrations import runner
from tests.conftest import fresh_database, make_org

URL = os.environ.get("BILLOW_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not URL.startswith("postgresql"), reason="PostgreSQL's connection pool")


def _backend(database: Database) -> int:
    with database.unit_of_work(write=False) as session:
        return session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(pid: int) -> None:
    engine = create_engine(URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + 10
            while connection.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                     {"pid": pid}).scalar_one() and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        engine.dispose()


def test_an_idle_connection_the_server_closed_is_replaced_before_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE", 0.0)  # every checkout counts as after idling
    database = Database(URL, pool_size=1)
    try:
        first = _backend(database)
        _terminate(first)
        assert _backend(database) != first  # checked, found dead, replaced: the read succeeded
    finally:
        database.dispose()


def test_a_connection_in_steady_use_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE", 3600.0)
    database = Database(URL, pool_size=1)
    try:
        first = _backend(database)
        _terminate(first)
        with pytest.raises(OperationalError):  # used again at once: not checked, so the read fails
            _backend(database)
        assert _backend(database) != first  # the failure discarded it; the next read has a new one
    finally:
        database.dispose()


def _key_lookup_scans(database: Database, organization_id: uuid.UUID, keys: list[str]) -> int:
    """Rows of ``events`` that the ingest's lookup of ``keys`` read by sequential scan."""
    events = [EventIn(key, "sub", "calls", datetime(2026, 1, 1, tzinfo=UTC), True, {}, None) for key in keys]
    # The backend's counts not yet reported (earlier transactions' too): a difference around the lookup.
    scanned = text("SELECT seq_tup_read FROM pg_stat_xact_user_tables WHERE relname = 'events'")
    with database.unit_of_work() as session:
        before = session.execute(scanned).scalar_one()
        found = events_service._existing(session, organization_id, events)
        assert set(found) == {(key, "sub") for key in keys}
        return session.execute(scanned).scalar_one() - before


def test_the_lookup_of_stored_keys_keeps_to_the_unique_index_as_the_table_grows(database: Database) -> None:
    """A lookup run often while ``events`` was nearly empty, then again once the table has grown with
    no ``ANALYZE`` since (autovacuum had no turn yet): planned for its values, it probes the unique
    index (see billow.core.db.CUSTOM_PLANS); a generic plan kept from the start read the whole table
    for each key."""
    with fresh_database(database, "billow_plans") as url:
        runner.upgrade(make_engine(url))
        fresh = Database(url, pool_size=1)  # one connection: the one that prepares the lookup
        try:
            organization_id = make_org(fresh).id
            insert = ("INSERT INTO events (organization_id, lago_id, transaction_id, external_subscription_id, code,"
                      " timestamp, properties, created_at) SELECT :org, gen_random_uuid(), 'k' || n, 'sub', 'calls',"
                      " now(), '{}', now() FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS n")
            with fresh.unit_of_work() as session:
                session.execute(text("ALTER TABLE events SET (autovacuum_enabled = false)"))
                session.execute(text(insert), {"org": organization_id, "first": 1, "last": 3})
            with fresh.unit_of_work() as session:
                session.execute(text("ANALYZE events"))
            for _ in range(12):  # psycopg prepares it after 5 runs; the server may plan it generically after 5 more
                _key_lookup_scans(fresh, organization_id, ["k1", "k2", "k3"])
            with fresh.unit_of_work() as session:
                session.execute(text(insert), {"org": organization_id, "first": 4, "last": 20_000})
            assert _key_lookup_scans(fresh, organization_id, ["k5", "k500", "k19999"]) == 0
        finally:
            fresh.dispose()
