"""The jobs table as a durable queue.

- :func:`enqueue` writes the job in the caller's session: it exists only if that transaction
  commits. A ``dedupe_key`` already used makes it a no-op (``INSERT .. ON CONFLICT DO NOTHING``).
- :func:`claim` takes due jobs in a transaction of its own. On PostgreSQL the rows are selected
  ``FOR UPDATE SKIP LOCKED``, so several workers share the queue and never take the same job; on
  SQLite the write transaction (``BEGIN IMMEDIATE``) serialises claims. A claimed job is
  ``running`` with ``run_at`` moved to the end of the worker's lease: if the worker dies, the job
  becomes claimable again when the lease ends (that is how a job interrupted by a crash runs again).
- :func:`complete`, :func:`fail` (retry later with exponential backoff, or ``dead`` once the
  attempts are spent, keeping the last error) and :func:`release` (give the job back untouched)
  only act on a job the worker still holds.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Text, bindparam, delete, event, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.db import Database
from billow.core.types import UTCDateTime
from billow.models import Job

STATES = ("queued", "running", "done", "dead")
_ERROR_LIMIT = 4000
_ENQUEUED = "billow_jobs_enqueued"

# Set when a transaction that enqueued jobs commits in this process: an idle worker of the same
# process wakes up at once instead of at its next poll (workers in other processes poll).
new_jobs = threading.Event()


@event.listens_for(Session, "after_commit")
def _wake_workers(session: Session) -> None:
    if session.info.pop(_ENQUEUED, False):
        new_jobs.set()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_ENQUEUED, None)


@dataclass(frozen=True)
class Backoff:
    """Wait after failed attempt ``n`` (1-based): ``base * 2**(n-1)`` seconds, at most ``cap``,
    plus a random jitter of up to ``jitter`` times that (never less than the computed wait)."""

    base: float
    cap: float
    jitter: float = 0.1

    def delay(self, attempt: int) -> float:
        """The wait in seconds before jitter."""
        return float(min(self.cap, self.base * 2 ** min(attempt - 1, 62)))

    def wait(self, attempt: int, rand: float | None = None) -> timedelta:
        share = random.random() if rand is None else rand
        return timedelta(seconds=self.delay(attempt) * (1 + self.jitter * share))

    def shortest_span(self, attempts: int) -> timedelta:
        """The least time between the first and the last of ``attempts`` attempts (no jitter)."""
        return timedelta(seconds=sum(self.delay(n) for n in range(1, attempts)))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff: Backoff


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    name: str
    payload: dict[str, Any]
    attempts: int  # this attempt's number (1 for the first run)
    worker: str


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def enqueue(
    session: Session,
    name: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Add a job in the caller's transaction; returns its id, or None when ``dedupe_key`` is taken."""
    now = clock.now()
    stmt = (
        _insert(session)(Job)
        .values(name=name, payload=payload or {}, state="queued", dedupe_key=dedupe_key, run_at=run_at or now,
                attempts=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Job.id)
    )
    session.info[_ENQUEUED] = True
    return session.scalar(stmt)


def _job_rows(name: str, jobs: Sequence[tuple[dict[str, Any], str]],
              now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or clock.now()
    return [{"name": name, "payload": payload, "state": "queued", "dedupe_key": key, "run_at": now, "attempts": 0,
             "created_at": now, "updated_at": now} for payload, key in jobs]


def enqueue_many(session: Session, name: str, jobs: Sequence[tuple[dict[str, Any], str]]) -> None:
    """:func:`enqueue` of many jobs of one task in one statement: (payload, dedupe key) each; keys
    already used are skipped."""
    if not jobs:
        return
    now = clock.now()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # One statement whatever the number of jobs: the rows come from two arrays, so the server
        # plans and executes once instead of once a row.
        connection.execute(_UNNEST, {"name": name, "now": now, "payloads": [json.dumps(p) for p, _ in jobs],
                                     "keys": [key for _, key in jobs]})
    else:
        # One statement executed for many rows (compiled once), not a multi-row VALUES compiled each time.
        connection.execute(_insert(session)(Job.__table__).on_conflict_do_nothing(index_elements=["dedupe_key"]),
                           _job_rows(name, jobs, now))
    session.info[_ENQUEUED] = True


# :func:`enqueue_many` on PostgreSQL: the jobs in the arrays' order (their ids follow it).
_UNNEST = text(
    "INSERT INTO jobs (name, payload, state, dedupe_key, run_at, attempts, created_at, updated_at) "
    "SELECT :name, CAST(job.payload AS JSONB), 'queued', job.dedupe_key, :now, 0, :now, :now "
    "FROM unnest(CAST(:payloads AS TEXT[]), CAST(:keys AS TEXT[])) WITH ORDINALITY AS job(payload, dedupe_key, n) "
    "ORDER BY job.n ON CONFLICT (dedupe_key) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("payloads", type_=ARRAY(Text())),
             bindparam("keys", type_=ARRAY(Text())))


def enqueue_new(session: Session, name: str, jobs: Sequence[tuple[dict[str, Any], str]]) -> list[int]:
    """:func:`enqueue_many` of jobs whose dedupe keys are new (made by the caller, e.g. from fresh
    ids), returning their ids in the order given."""
    if not jobs:
        return []
    statement = insert(Job.__table__).returning(Job.__table__.c.id, sort_by_parameter_order=True)
    ids = [row[0] for row in session.connection().execute(statement, _job_rows(name, jobs))]
    session.info[_ENQUEUED] = True
    return ids


def _due(now: datetime) -> Select[tuple[int]]:
    return (
        select(Job.id)
        .where(Job.state.in_(("queued", "running")), Job.run_at <= now)
        .order_by(Job.run_at, Job.id)
    )


def claim(database: Database, worker: str, *, now: datetime | None = None, limit: int = 1,
          lease_seconds: float = 300, names: Sequence[str] | None = None) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs (queued, or running with an expired lease) for ``worker``."""
    now = now or clock.now()
    with database.unit_of_work() as session:
        due = _due(now)
        if names is not None:
            due = due.where(Job.name.in_(names))
        ids = session.scalars(due.limit(limit).with_for_update(skip_locked=True)).all()
        if not ids:
            return []
        rows = session.execute(
            update(Job)
            .where(Job.id.in_(ids))
            .values(state="running", run_at=now + timedelta(seconds=lease_seconds), attempts=Job.attempts + 1,
                    locked_by=worker, updated_at=now)
            .returning(Job.id, Job.name, Job.payload, Job.attempts)
            .execution_options(synchronize_session=False)
        ).all()
    jobs = [ClaimedJob(row.id, row.name, row.payload or {}, row.attempts, worker) for row in rows]
    return sorted(jobs, key=lambda job: ids.index(job.id))


def _held(job: ClaimedJob) -> Any:
    return update(Job).where(Job.id == job.id, Job.state == "running", Job.locked_by == job.worker).execution_options(
        synchronize_session=False
    )


def complete(database: Database, job: ClaimedJob, *, now: datetime | None = None) -> bool:
    now = now or clock.now()
    with database.unit_of_work() as session:
        done = session.execute(_held(job).values(state="done", finished_at=now, updated_at=now, locked_by=None))
    return bool(done.rowcount)  # type: ignore[attr-defined]


def fail(database: Database, job: ClaimedJob, error: str, policy: RetryPolicy, *, now: datetime | None = None) -> str:
    """Record the failure: ``queued`` again after the backoff wait, or ``dead`` when the attempts
    are spent. Returns the job's new state ("" if the worker no longer held it)."""
    now = now or clock.now()
    error = error[:_ERROR_LIMIT]
    if job.attempts >= policy.max_attempts:
        values: dict[str, Any] = {"state": "dead", "finished_at": now}
    else:
        values = {"state": "queued", "run_at": now + policy.backoff.wait(job.attempts)}
    with database.unit_of_work() as session:
        result = session.execute(_held(job).values(last_error=error, updated_at=now, locked_by=None, **values))
    return str(values["state"]) if result.rowcount else ""  # type: ignore[attr-defined]


def release(database: Database, job: ClaimedJob, *, now: datetime | None = None) -> bool:
    """Give a claimed job back, due at once, without counting the attempt (clean shutdown)."""
    now = now or clock.now()
    with database.unit_of_work() as session:
        result = session.execute(
            _held(job).values(state="queued", run_at=now, attempts=Job.attempts - 1, locked_by=None, updated_at=now)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# ---- visibility ---------------------------------------------------------------------------------


def list_query(state: str | None = None, name: str | None = None) -> Select[tuple[Job]]:
    stmt = select(Job).order_by(Job.id.desc())
    if state is not None:
        stmt = stmt.where(Job.state == state)
    if name is not None:
        stmt = stmt.where(Job.name == name)
    return stmt


def get(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def delete_finished(session: Session, before: datetime) -> int:
    """Forget ``done`` jobs finished before ``before`` (dead jobs stay, for inspection)."""
    result = session.execute(
        delete(Job).where(Job.state == "done", Job.finished_at < before).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
