"""The jobs table as a queue: transactional enqueue, dedupe, backoff, dead jobs, leases, release,
and several workers on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from billow.config import Settings
from billow.core import clock
from billow.core.db import Database
from billow.jobs import queue
from billow.jobs.queue import Backoff
from billow.jobs.worker import execute, http_client, run_pending
from billow.models import Job
from tests.jobs.conftest import COUNT, FAIL, Runs

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _job(database: Database, job_id: int) -> Job:
    with database.unit_of_work(write=False) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _enqueue(database: Database, key: str, **options: object) -> int | None:
    with database.unit_of_work() as session:
        return queue.enqueue(session, COUNT, {"key": key}, **options)  # type: ignore[arg-type]


def _drain(database: Database, at: datetime, settings: Settings | None = None) -> int:
    return run_pending(database, settings or Settings(database_url=database.url), now=at, names=[COUNT, FAIL])


# ---- backoff ------------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    backoff = Backoff(base=30, cap=600, jitter=0.1)
    assert [backoff.delay(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]
    assert backoff.wait(3, rand=0.0) == timedelta(seconds=120)
    assert backoff.wait(3, rand=1.0) == timedelta(seconds=132)
    for _ in range(50):
        assert timedelta(seconds=240) <= backoff.wait(4) <= timedelta(seconds=264)
    assert backoff.delay(500) == 600  # no overflow on absurd attempt numbers
    assert backoff.shortest_span(4) == timedelta(seconds=30 + 60 + 120)


def test_default_webhook_retries_span_more_than_a_day() -> None:
    settings = Settings()
    backoff = Backoff(settings.webhook_backoff_base_seconds, settings.webhook_backoff_cap_seconds)
    assert backoff.shortest_span(settings.webhook_max_attempts) >= timedelta(hours=24)
    assert backoff.shortest_span(settings.webhook_max_attempts - 2) < timedelta(hours=24)  # not far beyond


# ---- enqueue ------------------------------------------------------------------------------------


def test_a_job_whose_transaction_rolls_back_never_runs(database: Database, runs: Runs) -> None:
    key = uuid.uuid4().hex
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        queue.enqueue(session, COUNT, {"key": key})
        raise RuntimeError("the change fails")
    with database.unit_of_work(write=False) as session:
        assert session.scalars(select(Job).where(Job.name == COUNT)).all() == []
    _drain(database, clock.now() + timedelta(days=1))
    assert runs.counts[key] == 0


def test_the_same_dedupe_key_runs_once(database: Database, runs: Runs) -> None:
    key = uuid.uuid4().hex
    first = _enqueue(database, key, dedupe_key=f"once:{key}")
    assert first is not None
    assert _enqueue(database, key, dedupe_key=f"once:{key}") is None
    with database.unit_of_work() as session:  # twice in one transaction too
        assert queue.enqueue(session, COUNT, {"key": key}, dedupe_key=f"once:{key}") is None
    _drain(database, clock.now())
    _drain(database, clock.now() + timedelta(days=1))
    assert runs.counts[key] == 1
    assert _job(database, first).state == "done"
    assert _enqueue(database, key, dedupe_key=f"once:{key}") is None  # still taken once done


def test_many_jobs_go_in_their_order_each_key_once(database: Database) -> None:
    """``enqueue_many`` (one statement: an ``unnest`` on PostgreSQL) keeps the order of the jobs
    in their ids and skips a key already taken, by an earlier call or earlier in the same one."""
    tag = uuid.uuid4().hex
    _enqueue(database, "taken", dedupe_key=f"{tag}:b")
    jobs = [({"key": "a", "n": 1}, f"{tag}:a"), ({"key": "b"}, f"{tag}:b"), ({"key": "c", "nested": {"x": [1, None]}},
            f"{tag}:c"), ({"key": "a again"}, f"{tag}:a"), ({}, f"{tag}:d")]
    with database.unit_of_work() as session:
        queue.enqueue_many(session, COUNT, jobs)
    with database.unit_of_work(write=False) as session:
        rows = session.execute(select(Job.dedupe_key, Job.payload, Job.state, Job.attempts, Job.name)
                               .where(Job.dedupe_key.startswith(tag)).order_by(Job.id)).all()
    assert [(key, payload) for key, payload, *_ in rows] == [
        (f"{tag}:b", {"key": "taken"}), (f"{tag}:a", {"key": "a", "n": 1}),
        (f"{tag}:c", {"key": "c", "nested": {"x": [1, None]}}), (f"{tag}:d", {})]
    assert {(state, attempts, name) for _, _, state, attempts, name in rows} == {("queued", 0, COUNT)}


def test_jobs_wait_for_their_run_at(database: Database, runs: Runs) -> None:
    job_id = _enqueue(database, "later", run_at=T0)
    assert job_id is not None
    _drain(database, T0 - timedelta(seconds=1))
    assert runs.counts["later"] == 0
    _drain(database, T0)
    assert runs.counts["later"] == 1
    job = _job(database, job_id)
    assert (job.state, job.attempts, job.locked_by) == ("done", 1, None)
    assert job.finished_at is not None


# ---- failures -----------------------------------------------------------------------------------


def test_failures_back_off_then_the_job_is_dead_with_its_last_error(database: Database, runs: Runs) -> None:
    settings = Settings(database_url=database.url, job_max_attempts=3, job_backoff_base_seconds=60,
                        job_backoff_cap_seconds=3600)
    with database.unit_of_work() as session:
        job_id = queue.enqueue(session, FAIL, run_at=T0)
    assert job_id is not None
    at = T0
    for attempt, wait in ((1, 60), (2, 120)):
        assert _drain(database, at, settings) == 1
        job = _job(database, job_id)
        assert (job.state, job.attempts) == ("queued", attempt)
        assert f"broken on attempt {attempt}" in (job.last_error or "")
        assert timedelta(seconds=wait) <= job.run_at - at <= timedelta(seconds=wait * 1.1)
        assert _drain(database, job.run_at - timedelta(seconds=1), settings) == 0  # not before its time
        at = job.run_at
    assert _drain(database, at, settings) == 1
    job = _job(database, job_id)
    assert (job.state, job.attempts) == ("dead", 3)
    assert "RuntimeError: broken on attempt 3" in (job.last_error or "")
    assert _drain(database, at + timedelta(days=30), settings) == 0  # dead jobs stay dead


# ---- leases: a worker that dies ------------------------------------------------------------------


def test_a_job_held_by_a_dead_worker_runs_again_after_its_lease(database: Database, runs: Runs) -> None:
    job_id = _enqueue(database, "crashed", run_at=T0)
    [claimed] = queue.claim(database, "worker-that-dies", now=T0, lease_seconds=300, names=[COUNT])
    assert claimed.id == job_id and claimed.attempts == 1
    assert _job(database, job_id).state == "running"
    assert _drain(database, T0 + timedelta(seconds=299)) == 0  # still leased
    assert _drain(database, T0 + timedelta(seconds=300)) == 1
    assert runs.counts["crashed"] == 1
    job = _job(database, job_id)
    assert (job.state, job.attempts) == ("done", 2)
    # The first worker comes back: its outcome is not recorded over the new one.
    assert queue.complete(database, claimed) is False
    assert queue.fail(database, claimed, "late", queue.RetryPolicy(5, Backoff(1, 1))) == ""
    assert _job(database, job_id).state == "done"


def test_release_gives_the_job_back_uncounted(database: Database, runs: Runs) -> None:
    job_id = _enqueue(database, "released", run_at=T0)
    [claimed] = queue.claim(database, "stopping", now=T0, names=[COUNT])
    assert queue.release(database, claimed, now=T0) is True
    job = _job(database, job_id)
    assert (job.state, job.attempts, job.run_at) == ("queued", 0, T0)
    assert _drain(database, T0) == 1
    assert runs.counts["released"] == 1


def test_an_unknown_task_is_dead_at_once(database: Database, runs: Runs) -> None:
    with database.unit_of_work() as session:
        job_id = queue.enqueue(session, "tests.unknown", run_at=T0)
    assert run_pending(database, now=T0, names=["tests.unknown"]) == 1
    job = _job(database, job_id)  # type: ignore[arg-type]
    assert (job.state, job.last_error) == ("dead", "no task named 'tests.unknown'")


# ---- several workers (PostgreSQL) ----------------------------------------------------------------


def test_workers_never_run_the_same_job_at_once(database: Database, runs: Runs) -> None:
    if database.sqlite:
        pytest.skip("SQLite runs one worker; claims there are serialised by the write lock")
    keys = [f"parallel-{index}" for index in range(120)]
    with database.unit_of_work() as session:
        for key in keys:
            queue.enqueue(session, COUNT, {"key": key}, run_at=T0)
    runs.pause = 0.005
    settings = Settings(database_url=database.url)
    claimed_by: dict[int, list[str]] = {}
    lock = threading.Lock()

    def work(name: str) -> None:
        with http_client(settings) as http:
            while True:
                jobs = queue.claim(database, name, now=T0, limit=2, names=[COUNT])
                if not jobs:
                    return
                for job in jobs:
                    with lock:
                        claimed_by.setdefault(job.id, []).append(name)
                    execute(database, settings, job, http, T0)

    threads = [threading.Thread(target=work, args=(f"w{index}",)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(len(names) == 1 for names in claimed_by.values())
    assert len(claimed_by) == len(keys)
    assert runs.counts == dict.fromkeys(keys, 1)
    assert runs.overlaps == 0
    assert len({names[0] for names in claimed_by.values()}) > 1  # the work was shared
