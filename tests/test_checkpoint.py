"""SQLite files: the group commit's commits leave the write-ahead log alone, and the group commit
copies the log into the database after its turn (``Database.checkpoint``)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from billow.core.db import CHECKPOINT_SECONDS, Database

PAGES = 1500  # over SQLite's default threshold for a checkpoint on commit (1000 pages)


def _database() -> tuple[Database, Path]:
    path = Path(tempfile.mkdtemp()) / "wal.db"
    database = Database(f"sqlite:///{path}")
    with database.unit_of_work() as session:
        session.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)"))
    return database, path


def _fill(session: Session) -> None:  # about one page a row
    session.execute(text(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {PAGES})"
                         " INSERT INTO blobs (data) SELECT randomblob(3500) FROM n"))


def test_a_plain_commit_checkpoints_the_log_once_it_is_long() -> None:
    database, path = _database()
    try:
        before = os.path.getsize(path)
        with database.unit_of_work() as session:
            _fill(session)
        assert os.path.getsize(path) > before + 1000 * 3500  # copied into the database on commit
    finally:
        database.dispose()


def test_the_group_commits_commit_leaves_the_log_and_checkpoints_after_its_turn() -> None:
    database, path = _database()
    try:
        with database.unit_of_work(grouped=True) as session:
            assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        before = os.path.getsize(path)
        with database.unit_of_work(grouped=True) as session:
            _fill(session)
        assert os.path.getsize(path) == before  # all of it still in the log
        database.checkpoint(every=0)
        assert os.path.getsize(path) > before + PAGES * 3500

        time.sleep(CHECKPOINT_SECONDS)  # the group commit's next checkpoint is due
        database.group_commit.run(_fill)  # the writer thread checkpoints once it has answered
        deadline = time.monotonic() + 10
        while os.path.getsize(path) < before + 2 * PAGES * 3500 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.getsize(path) > before + 2 * PAGES * 3500
        with database.unit_of_work(write=False) as session:
            assert session.execute(text("SELECT count(*) FROM blobs")).scalar() == 2 * PAGES
    finally:
        database.dispose()


def test_the_checkpoint_waits_its_interval_and_is_nothing_on_postgresql() -> None:
    database, path = _database()
    try:
        database.checkpoint(every=0)
        with database.unit_of_work(grouped=True) as session:
            _fill(session)
        size = os.path.getsize(path)
        database.checkpoint(every=3600)  # the last one was just now
        assert os.path.getsize(path) == size
    finally:
        database.dispose()
    postgres = Database("postgresql://nobody@127.0.0.1:1/none")
    postgres.checkpoint(every=0)  # no connection is even tried
    postgres.dispose()
