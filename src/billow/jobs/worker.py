"""Running jobs: the task registry, the periodic-service registry, :func:`run_pending` (drain the
due jobs once, for tests and scripts) and :class:`Worker` (the loop `billow serve` runs in a
thread and `billow worker` runs in threads of its own).

A task is a function of a :class:`JobContext`, registered by name with :func:`task`. It must be
idempotent: a job runs at least once, and again if its worker dies before recording the outcome.
A periodic service (:func:`periodic`) is a task the worker enqueues once per interval slot, with
the dedupe key ``periodic:<name>:<interval>:<slot>``, so that any number of worker processes run
each tick once. Its interval and enabled flag come from the settings
``periodic_<name>_interval`` / ``periodic_<name>_enabled`` (``BILLOW_PERIODIC_<NAME>_...``).
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from billow.config import Settings
from billow.core import clock
from billow.core.db import Database
from billow.jobs import queue
from billow.jobs.queue import Backoff, ClaimedJob, RetryPolicy

log = logging.getLogger("billow.jobs")

# Modules whose import registers tasks and periodic services (later issues add theirs here).
TASK_MODULES = ("billow.jobs.services", "billow.webhooks.tasks", "billow.webhooks.event_errors",
                "billow.invoices.tasks", "billow.fees.tasks", "billow.subscriptions.tasks",
                "billow.documents.tasks")


@dataclass
class JobContext:
    database: Database
    settings: Settings
    job: ClaimedJob
    now: datetime  # when the job was claimed
    http: httpx.Client
    policy: RetryPolicy

    @property
    def final_attempt(self) -> bool:
        return self.job.attempts >= self.policy.max_attempts


Run = Callable[[JobContext], None]


def default_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        settings.job_max_attempts, Backoff(settings.job_backoff_base_seconds, settings.job_backoff_cap_seconds)
    )


def _once(settings: Settings) -> RetryPolicy:
    """Periodic ticks are not retried: the next tick does the work again."""
    return RetryPolicy(1, Backoff(0, 0))


@dataclass(frozen=True)
class Task:
    name: str
    run: Run
    policy: Callable[[Settings], RetryPolicy]


@dataclass(frozen=True)
class PeriodicService:
    name: str
    run: Run

    def interval(self, settings: Settings) -> int:
        return max(1, int(getattr(settings, f"periodic_{self.name}_interval")))

    def enabled(self, settings: Settings) -> bool:
        return bool(getattr(settings, f"periodic_{self.name}_enabled"))


TASKS: dict[str, Task] = {}
PERIODIC: dict[str, PeriodicService] = {}


def task(name: str, *, policy: Callable[[Settings], RetryPolicy] = default_policy) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        TASKS[name] = Task(name, run, policy)
        return run

    return register


def periodic(name: str) -> Callable[[Run], Run]:
    """Register a periodic service; its settings ``periodic_<name>_interval``/``_enabled`` must exist."""

    def register(run: Run) -> Run:
        PERIODIC[name] = PeriodicService(name, run)
        TASKS[f"periodic.{name}"] = Task(f"periodic.{name}", run, _once)
        return run

    return register


def load_tasks() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


def schedule_periodic(database: Database, settings: Settings, now: datetime,
                      done: dict[str, int] | None = None) -> list[str]:
    """Enqueue the current slot of every enabled periodic service (once per slot, whoever asks)."""
    done = {} if done is None else done
    enqueued = []
    for service in PERIODIC.values():
        if not service.enabled(settings):
            continue
        interval = service.interval(settings)
        slot = int(now.timestamp()) // interval
        if done.get(service.name) == slot:
            continue
        with database.unit_of_work() as session:
            job_id = queue.enqueue(
                session, f"periodic.{service.name}", {"slot": slot},
                run_at=datetime.fromtimestamp(slot * interval, UTC),
                dedupe_key=f"periodic:{service.name}:{interval}:{slot}",
            )
        done[service.name] = slot
        if job_id is not None:
            enqueued.append(service.name)
    return enqueued


def execute(database: Database, settings: Settings, job: ClaimedJob, http: httpx.Client, now: datetime) -> str:
    """Run one claimed job and record the outcome; returns the job's new state."""
    spec = TASKS.get(job.name)
    if spec is None:
        return queue.fail(database, job, f"no task named {job.name!r}", RetryPolicy(job.attempts, Backoff(0, 0)), now=now)
    policy = spec.policy(settings)
    try:
        spec.run(JobContext(database, settings, job, now, http, policy))
    except Exception as exc:
        log.warning("job %s (%s) attempt %s failed: %s", job.id, job.name, job.attempts, exc)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return queue.fail(database, job, detail, policy, now=now)
    queue.complete(database, job)
    return "done"


def http_client(settings: Settings) -> httpx.Client:
    # TCP_NODELAY: httpx writes a POST's headers and body separately; with Nagle's algorithm the
    # body would wait for the receiver's delayed ACK (about 40 ms on Linux) on every webhook.
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False, transport=transport)


def run_pending(database: Database, settings: Settings | None = None, *, now: datetime | None = None,
                names: Sequence[str] | None = None, periodic: bool = False, worker: str = "inline",
                max_jobs: int = 100_000) -> int:
    """Run every job due at ``now`` (default: the clock) once, one after the other; returns how
    many ran. Jobs a run reschedules are due later than ``now`` and wait for the next call."""
    load_tasks()
    settings = settings or Settings(database_url=database.url)
    at = now or clock.now()
    ran = 0
    with http_client(settings) as http:
        if periodic:
            schedule_periodic(database, settings, at)
        while ran < max_jobs:
            jobs = queue.claim(database, worker, now=at, names=names, lease_seconds=settings.job_lease_seconds)
            if not jobs:
                break
            execute(database, settings, jobs[0], http, at)
            ran += 1
    return ran


class Worker:
    """The worker loop: schedule periodic ticks, claim up to ``worker_batch`` due jobs, run them
    one after the other, repeat; sleep ``worker_poll_seconds`` when nothing is due. :meth:`stop`
    lets the job in hand finish (its outcome is recorded), releases the claimed jobs not started,
    and claims nothing more."""

    def __init__(self, database: Database, settings: Settings, *, name: str | None = None, periodic: bool = True):
        self.database = database
        self.settings = settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.periodic = periodic
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Worker:
        self._thread = threading.Thread(target=self.run, name=f"billow-worker-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        queue.new_jobs.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        load_tasks()
        slots: dict[str, int] = {}
        with http_client(self.settings) as http:
            while not self._stop.is_set():
                try:
                    if not self._step(http, slots):
                        self._idle()
                except Exception:  # the database went away, etc.: log, wait, try again
                    log.exception("worker %s: error in the loop", self.name)
                    self._stop.wait(self.settings.worker_poll_seconds)

    def _idle(self) -> None:
        """Until the next poll, or sooner when this process commits new jobs (or stop is asked)."""
        if queue.new_jobs.wait(self.settings.worker_poll_seconds):
            queue.new_jobs.clear()

    def _step(self, http: httpx.Client, slots: dict[str, int]) -> bool:
        now = clock.now()
        if self.periodic:
            schedule_periodic(self.database, self.settings, now, slots)
        jobs = queue.claim(self.database, self.name, now=now, limit=self.settings.worker_batch,
                           lease_seconds=self.settings.job_lease_seconds)
        for index, job in enumerate(jobs):
            if self._stop.is_set():  # stopping: hand back the jobs not started
                for rest in jobs[index:]:
                    queue.release(self.database, rest)
                break
            execute(self.database, self.settings, job, http, clock.now())
        return bool(jobs)
