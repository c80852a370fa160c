"""Engine and sessions for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys and a busy timeout. Write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on the database lock instead of failing with
"database is locked" when a reader tries to upgrade; read transactions stay ``DEFERRED`` and
never block writers.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Context, Decimal
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from billow.core.group_commit import GroupCommit

_BEGIN_OPTION = "billow_sqlite_begin"
_BEGIN = {mode: f"BEGIN {mode}" for mode in ("DEFERRED", "IMMEDIATE")}
# Seconds a pooled PostgreSQL connection may sit idle before it is checked at its next use.
PING_AFTER_IDLE = 5.0
# PostgreSQL: plan each run of a statement for its values (for ``SET`` or ``SET LOCAL``). psycopg
# prepares a statement on the server once a connection has run it five times, and the server may
# then keep one generic plan for it, costed with the statistics of that moment. A lookup of event
# keys planned while ``events`` was nearly empty read every row for each key once the table had
# grown fast, until the next ``ANALYZE``: a retried batch of 100 took 2.6 s against 300,000 events,
# where a plan for the values takes the unique index (0.3 ms). Planning every run costs CPU: a
# billing run took about a fifth longer with it on every connection, and current-usage reads about
# a millisecond more, so it is set only where that lookup runs.
CUSTOM_PLANS = "plan_cache_mode = force_custom_plan"
# How often the group commit checkpoints SQLite's write-ahead log, at most.
CHECKPOINT_SECONDS = 0.1


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and route them to psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, busy_timeout_seconds: float = 60.0, pool_size: int = 20,
                autocheckpoint: bool = True) -> Engine:
    """``autocheckpoint=False`` (SQLite): commits leave the write-ahead log for the owner of the engine to
    checkpoint (:meth:`Database.checkpoint`)."""
    url = _normalise_url(url)
    if not is_sqlite(url):
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
        _ping_after_idle(engine)
        return engine

    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout_seconds, "check_same_thread": False},
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=busy_timeout_seconds,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event issue BEGIN itself (the driver's implicit BEGIN
        # would always be DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()
        # Exact arithmetic on decimals kept as text (SQLite has no exact decimal type).
        dbapi_connection.create_function("billow_dec_add", 2, _dec_add, deterministic=True)
        dbapi_connection.create_function("billow_dec_max", 2, _dec_max, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.connection.driver_connection.execute(_BEGIN[mode])  # the driver's own: no statement handling

    return engine


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled PostgreSQL connection before use when it has been idle for
    :data:`PING_AFTER_IDLE` seconds (a restarted server, or a proxy's idle timeout, may have closed
    it), and replace it if it is dead. Checking at every checkout instead (``pool_pre_ping``) costs
    a round trip per transaction: as much as a usage read's own statements, and one more for every
    group commit."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):  # type: ignore[no-untyped-def]
        record.info["billow_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):  # type: ignore[no-untyped-def]
        idle_since = record.info.get("billow_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards this connection and checks out another
            raise DisconnectionError() from exc


_EXACT = Context(prec=80)


def _dec_add(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return b if a is None else a
    return str(_EXACT.add(Decimal(a), Decimal(b)))


def _dec_max(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return b if a is None else a
    return a if Decimal(a) >= Decimal(b) else b


class Database:
    """Owns the engine and hands out sessions; the caller's unit of work commits."""

    def __init__(self, url: str, *, busy_timeout_seconds: float = 60.0, pool_size: int = 20):
        self.url = _normalise_url(url)
        self.engine = make_engine(self.url, busy_timeout_seconds=busy_timeout_seconds, pool_size=pool_size)
        self.sqlite = is_sqlite(self.url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        # PostgreSQL reads that need no snapshot beyond each statement's own (READ COMMITTED gives a
        # transaction no more than that): without BEGIN and ROLLBACK, two round trips fewer.
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._statement_reads = self._read if is_sqlite(self.url) else sessionmaker(
            self._autocommit, expire_on_commit=False)
        write_bind = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}) if self.sqlite else self.engine
        self._write = sessionmaker(write_bind, expire_on_commit=False)
        self.group_commit = GroupCommit(self)
        database_file = make_url(self.url).database if self.sqlite else None
        self._lock_path = f"{database_file}.lock" if database_file and database_file != ":memory:" else None
        # SQLite files: the group commit writes through connections of their own that never
        # checkpoint on commit. A commit that finds the write-ahead log over its threshold copies
        # the log into the database before it returns, which the group commit would do while it
        # holds the writer's turn; the group commit checkpoints after its turn instead.
        self._grouped_engine: Engine | None = None
        self._grouped = self._write
        if self._lock_path is not None:
            self._grouped_engine = make_engine(self.url, busy_timeout_seconds=busy_timeout_seconds, pool_size=2,
                                               autocheckpoint=False)
            self._grouped = sessionmaker(self._grouped_engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}),
                                         expire_on_commit=False)
        self._checkpointed = 0.0

    @contextmanager
    def writer_turn(self) -> Iterator[None]:
        """Wait for this process's turn to write, across processes (SQLite files only).

        Several ``billow serve --workers`` processes on one SQLite file each run a group commit.
        Left to ``BEGIN IMMEDIATE``, a waiting writer polls the database lock with sleeps of up to
        100 ms; an exclusive ``flock`` on a file beside the database hands the turn over as soon as
        the holder is done. A lock file opened per turn also orders threads of one process.
        """
        if self._lock_path is None:
            yield
            return
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def checkpoint(self, *, every: float = CHECKPOINT_SECONDS) -> None:
        """Copy the group commit's write-ahead log into the database (SQLite files), at most once
        per ``every`` seconds. Passive: it waits for no reader or writer, so it runs outside the
        writer's turn while another process writes."""
        if self._grouped_engine is None:
            return
        now = time.monotonic()
        if now - self._checkpointed < every:
            return
        self._checkpointed = now
        with self._grouped_engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    @contextmanager
    def single_statements(self) -> Iterator[Connection]:
        """A connection on which each statement is a transaction of its own, committed when it
        returns (PostgreSQL): a write made by one statement, without the round trips of ``BEGIN``
        and ``COMMIT``."""
        if self.sqlite:
            raise RuntimeError("SQLite writes take the writer's turn in a transaction")
        with self._autocommit.connect() as connection:
            yield connection

    def session(self, *, write: bool = True) -> Session:
        return (self._write if write else self._read)()

    @contextmanager
    def unit_of_work(self, *, write: bool = True, statement_reads: bool = False,
                     grouped: bool = False) -> Iterator[Session]:
        """One transaction: commits if the block succeeds, rolls back otherwise.

        ``statement_reads`` (reads only): on PostgreSQL each statement runs on its own, as it sees
        its own snapshot under READ COMMITTED anyway; for reads that take no locks.
        ``grouped``: the group commit's write, which leaves checkpoints to :meth:`checkpoint`."""
        if grouped:
            session = self._grouped()
        else:
            session = self._statement_reads() if statement_reads and not write else self.session(write=write)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.group_commit.stop()
        self.engine.dispose()
        if self._grouped_engine is not None:
            self._grouped_engine.dispose()


# ---- request-scoped unit of work ---------------------------------------------------------------


def _request_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    database: Database = request.app.state.db
    with database.unit_of_work(write=request.method not in ("GET", "HEAD", "OPTIONS")) as session:
        yield session


DbSession = Annotated[Session, Depends(_request_session, scope="function")]


def _read_session(request: Request) -> Iterator[Session]:
    """A read-only transaction for the request (never takes SQLite's write lock)."""
    database: Database = request.app.state.db
    with database.unit_of_work(write=False) as session:
        yield session


ReadSession = Annotated[Session, Depends(_read_session, scope="function")]
