"""PostgreSQL's pooled connections are checked before use only after they sat idle: a connection
the server closed meanwhile is replaced, and one in steady use costs no extra round trip."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from billow.core import db as core_db
from billow.core.db import Database

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
