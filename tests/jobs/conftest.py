"""A counting task for queue tests; its jobs are removed after each test."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import delete

from billow.core.db import Database
from billow.jobs.worker import JobContext, task
from billow.models import Job

COUNT = "tests.count"
FAIL = "tests.fail"


@dataclass
class Runs:
    counts: Counter[str] = field(default_factory=Counter)
    active: set[str] = field(default_factory=set)
    overlaps: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    pause: float = 0.0


RUNS = Runs()


@task(COUNT)
def count(ctx: JobContext) -> None:
    key = ctx.job.payload["key"]
    with RUNS.lock:
        if key in RUNS.active:
            RUNS.overlaps += 1
        RUNS.active.add(key)
    time.sleep(RUNS.pause)
    with RUNS.lock:
        RUNS.counts[key] += 1
        RUNS.active.discard(key)


@task(FAIL)
def always_fails(ctx: JobContext) -> None:
    raise RuntimeError(f"broken on attempt {ctx.job.attempts}")


@pytest.fixture
def runs(database: Database) -> Iterator[Runs]:
    RUNS.counts.clear()
    RUNS.active.clear()
    RUNS.overlaps = 0
    RUNS.pause = 0.0
    yield RUNS
    with database.unit_of_work() as session:
        session.execute(delete(Job).where(Job.name.like("tests.%")))
