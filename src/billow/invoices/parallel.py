"""The billing run in several processes (PostgreSQL): each bills chunks of the run as it gets to them.

The run's subscriptions are cut into chunks (:func:`chunks`): :data:`billow.invoices.batch.CHUNK`
at most, smaller towards the end (each at most a ``2 * processes``-th of what is left, a quarter
of a full chunk at least), so the processes finish close together. A process takes the next chunk
not taken yet (a counter shared by the processes) as soon as it is done with its own, and bills
it as a one-process run does (:func:`billow.invoices.batch.bill`, its non-plain subscriptions one
by one). Processes overlap their reading and pricing, which need no lock; they queue only on the
organization's numbering lock, taken just before a chunk's rows are written, so invoice numbers
stay sequential and without gaps (in the order the chunks took the lock). Processes are forked
where the platform can (nothing to import again, the chunks inherited), each leaving the parent's
pooled connections alone and opening its own; spawned elsewhere. SQLite has one writer: a run
there stays in one process.
"""

from __future__ import annotations

import gc
import multiprocessing
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import Any

from billow.core.db import Database
from billow.invoices import batch, billing

# In a billing process: the run's chunks and the counter of the next one to take.
_WORK: tuple[list[list[uuid.UUID]], Any] | None = None


def chunks(ids: list[uuid.UUID], processes: int) -> list[list[uuid.UUID]]:
    """``ids`` cut into chunks, in order: :data:`billow.invoices.batch.CHUNK` at most, and towards
    the end a ``2 * processes``-th of what is left (a quarter of a full chunk at least)."""
    largest = batch.CHUNK
    smallest = max(1, largest // 4)
    cut, start = [], 0
    while start < len(ids):
        left = len(ids) - start
        size = max(smallest, min(largest, -(-left // (2 * processes))))
        cut.append(ids[start:start + size])
        start += size
    return cut


def _start(database: Database | None, work: list[list[uuid.UUID]], counter: Any) -> None:
    """A billing process starts: in a forked one, the parent's pooled connections are the parent's,
    never to be used or closed here."""
    global _WORK
    if database is not None:
        database.engine.dispose(close=False)
    _WORK = (work, counter)


def _bill_chunks(url: str, at: datetime) -> billing.RunReport:
    """Bill chunks of the run, the next one not taken each time, on this process's own connections."""
    assert _WORK is not None
    work, counter = _WORK
    database = Database(url)
    try:
        report = billing.RunReport([], 0, [])
        one_by_one = billing.one_by_one(database, at, report)
        while True:
            with counter.get_lock():
                index = counter.value
                counter.value = index + 1
            if index >= len(work):
                return report
            batch.bill(database, work[index], at, report, one_by_one)
    finally:
        database.dispose()


def bill(database: Database, ids: list[uuid.UUID], at: datetime, report: billing.RunReport,
         processes: int) -> None:
    """Bill what ``ids`` owe at ``at`` in ``processes`` processes, adding what they did to ``report``."""
    work = chunks(ids, processes)
    processes = min(processes, len(work))
    if processes <= 1:
        batch.bill(database, ids, at, report, billing.one_by_one(database, at, report))
        return
    forking = "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if forking else "spawn")
    counter = context.Value("q", 0)
    if forking:
        gc.freeze()  # what the children inherit is never collected there: its pages stay shared
    try:
        with ProcessPoolExecutor(processes, mp_context=context, initializer=_start,
                                 initargs=(database if forking else None, work, counter)) as pool:
            futures = [pool.submit(_bill_chunks, database.url, at) for _ in range(processes)]
            for future in futures:
                done = future.result()
                report.billed.extend(done.billed)
                report.skipped += done.skipped
                report.failed.extend(done.failed)
    finally:
        if forking:
            gc.unfreeze()


__all__ = ["bill", "chunks"]
