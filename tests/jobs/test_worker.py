"""Periodic services, the worker thread, and `billow worker` as a process: SIGTERM, and SIGKILL
between the commit of a webhook and its delivery."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from billow.config import Settings
from billow.core.db import Database
from billow.jobs import queue
from billow.jobs.worker import PERIODIC, Worker, load_tasks, run_pending, schedule_periodic
from billow.models import Job, Webhook
from tests.customers.support import create_customer
from tests.jobs.conftest import COUNT, Runs
from tests.webhooks.support import Receiver, add_endpoint, forget_endpoints, receiver, webhooks_of

__all__ = ["forget_endpoints", "receiver"]  # fixtures

T0 = datetime(2031, 6, 1, 12, 0, 7, tzinfo=UTC)


@pytest.fixture
def periodic_jobs(database: Database) -> Iterator[None]:
    yield
    with database.unit_of_work() as session:
        session.execute(delete(Job).where(Job.name.like("periodic.%"), Job.run_at >= T0 - timedelta(days=1)))


def test_each_periodic_slot_is_enqueued_once_whatever_the_processes(database: Database, periodic_jobs: None) -> None:
    load_tasks()
    assert {"billing_clock", "webhook_sweeper", "event_errors", "jobs_cleanup"} <= set(PERIODIC)
    settings = Settings(database_url=database.url, periodic_billing_clock_interval=3600,
                        periodic_event_errors_interval=600, periodic_webhook_sweeper_enabled=False,
                        periodic_jobs_cleanup_enabled=False, periodic_draft_refresh_enabled=False,
                        periodic_pay_in_advance_fees_enabled=False,
                        periodic_progressive_billing_enabled=False)
    assert sorted(schedule_periodic(database, settings, T0, {})) == ["billing_clock", "event_errors"]
    # Another process, same slots: nothing more.
    assert schedule_periodic(database, settings, T0 + timedelta(seconds=500), {}) == []
    assert schedule_periodic(database, settings, T0 + timedelta(minutes=11), {}) == ["event_errors"]
    assert sorted(schedule_periodic(database, settings, T0 + timedelta(hours=1), {})) == [
        "billing_clock", "event_errors"]
    with database.unit_of_work(write=False) as session:
        clocks = session.scalars(select(Job).where(Job.name == "periodic.billing_clock", Job.run_at >= T0 - timedelta(
            hours=1)).order_by(Job.run_at)).all()
    assert [job.run_at for job in clocks] == [datetime(2031, 6, 1, 12, tzinfo=UTC), datetime(2031, 6, 1, 13, tzinfo=UTC)]
    # The billing clock is a no-op for now: it runs and finishes.
    assert run_pending(database, settings, now=T0, names=["periodic.billing_clock"]) == 1
    with database.unit_of_work(write=False) as session:
        assert session.get(Job, clocks[0].id).state == "done"  # type: ignore[union-attr]


def _settings(database: Database, **overrides: Any) -> Settings:
    """A worker's settings. The shared queue also holds the document jobs of earlier tests'
    invoices, which a worker runs first (they are older): it ends them without rendering PDFs."""
    return Settings(database_url=database.url, disable_pdf_generation=True, **overrides)


def test_the_worker_thread_runs_jobs_and_stops(database: Database, runs: Runs) -> None:
    worker = Worker(database, _settings(database, worker_poll_seconds=0.05), periodic=False).start()
    try:
        with database.unit_of_work() as session:
            job_id = queue.enqueue(session, COUNT, {"key": "threaded"})
        _wait(lambda: runs.counts["threaded"] == 1, 20)
    finally:
        worker.stop(10)
    assert worker._thread is not None and not worker._thread.is_alive()
    with database.unit_of_work(write=False) as session:
        assert session.get(Job, job_id).state == "done"  # type: ignore[union-attr]


def test_stopping_finishes_the_job_in_hand_and_releases_the_rest(database: Database, runs: Runs) -> None:
    with database.unit_of_work() as session:
        ids = [queue.enqueue(session, COUNT, {"key": f"batch-{index}"}) for index in range(3)]
    runs.pause = 0.5
    settings = _settings(database, worker_batch=3, worker_poll_seconds=0.05)
    worker = Worker(database, settings, periodic=False).start()
    _wait(lambda: bool(runs.active), 20)  # the first job of the batch is running
    worker.stop(20)
    with database.unit_of_work(write=False) as session:
        jobs = [session.get(Job, job_id) for job_id in ids]
    states = sorted((job.state, job.attempts, job.locked_by) for job in jobs)  # type: ignore[union-attr]
    assert states == [("done", 1, None), ("queued", 0, None), ("queued", 0, None)]
    assert sum(runs.counts.values()) == 1


# ---- `billow worker` processes --------------------------------------------------------------------


def _wait(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _start_worker(database: Database) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BILLOW_")}
    env.update(BILLOW_DATABASE_URL=database.url, BILLOW_JOB_LEASE_SECONDS="2", BILLOW_WORKER_POLL_SECONDS="0.1",
               BILLOW_WEBHOOK_TIMEOUT_SECONDS="20", BILLOW_LOG_LEVEL="warning", BILLOW_DISABLE_PDF_GENERATION="true")
    for name in ("billing_clock", "webhook_sweeper", "event_errors", "jobs_cleanup"):
        env[f"BILLOW_PERIODIC_{name.upper()}_ENABLED"] = "false"
    process = subprocess.Popen([sys.executable, "-m", "billow.cli", "worker"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("Worker running"), line
    return process


def _status(database: Database, webhook_id: Any) -> str:
    with database.unit_of_work(write=False) as session:
        return session.scalar(select(Webhook.status).where(Webhook.id == webhook_id)) or ""


def test_sigterm_stops_the_worker_cleanly(database: Database) -> None:
    process = _start_worker(database)
    try:
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(20) == 0
        assert process.stdout is not None and "Worker stopped." in process.stdout.read()
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def test_a_worker_killed_before_delivery_delivers_after_restart(
    api: httpx.Client, database: Database, org: Any, receiver: Receiver
) -> None:
    add_endpoint(api, receiver.url)
    receiver.hang = threading.Event()  # the first request is held until the worker is dead
    hang = receiver.hang
    create_customer(api, "cus-crash")  # the webhook commits with the customer
    [webhook] = webhooks_of(database, org.id)

    first = _start_worker(database)
    try:
        assert receiver.arrived.wait(30), "the first worker never sent the webhook"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
    assert _status(database, webhook.id) == "pending"  # nothing recorded: the worker died mid-send
    receiver.hang = None
    hang.set()

    second = _start_worker(database)
    try:
        _wait(lambda: _status(database, webhook.id) == "succeeded", 60)
    finally:
        os.kill(second.pid, signal.SIGTERM)
        assert second.wait(30) == 0
    keys = {request.key for request in receiver.requests}
    assert keys == {str(webhook.id)}  # the same unique key: the receiver can drop the duplicate
    assert len({request.body for request in receiver.requests}) == 1
    attempts = api.get(f"webhooks/{webhook.id}/attempts").json()["webhook_attempts"]
    assert [attempt["http_status"] for attempt in attempts] == [200]
    with database.unit_of_work(write=False) as session:
        job = session.get(Job, webhook.job_id)
        assert job is not None and (job.state, job.attempts) == ("done", 2)


def test_billow_serve_delivers_webhooks_with_its_own_worker(database: Database, receiver: Receiver) -> None:
    from tests.conftest import fresh_database

    with fresh_database(database, "billow_serve_worker") as url:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {key: value for key, value in os.environ.items() if not key.startswith("BILLOW_")}
        env.update(BILLOW_DATABASE_URL=url, BILLOW_ORG_API_KEY="serve-worker-key", BILLOW_LOG_LEVEL="warning")
        process = subprocess.Popen([sys.executable, "-m", "billow.cli", "serve", "--port", str(port)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(lambda: _healthy(base), 60)
            with httpx.Client(base_url=f"{base}/api/v1/", timeout=30,
                              headers={"Authorization": "Bearer serve-worker-key"}) as api:
                add_endpoint(api, receiver.url, signature_algo="hmac")
                create_customer(api, "cus-served")
                _wait(lambda: len(receiver.delivered()) == 1, 30)
                # The worker records the outcome after the receiver has answered: wait for it.
                _wait(lambda: [w["status"] for w in api.get("webhooks").json()["webhooks"]] == ["succeeded"], 30)
            assert receiver.delivered()[0].json["customer"]["external_id"] == "cus-served"
            os.kill(process.pid, signal.SIGTERM)
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
