"""The billing run in several processes (PostgreSQL): each bills its own chunks of the run.

The run's subscriptions are dealt out chunk by chunk (:data:`billow.invoices.batch.CHUNK`), round
robin, so every process gets a disjoint share spread over the whole run; each process bills its
share as a one-process run does (:func:`billow.invoices.batch.bill`, its non-plain subscriptions
one by one). Processes overlap their reading and pricing, which need no lock; they queue only on
the organization's numbering lock, taken just before a chunk's rows are written, so invoice numbers
stay sequential and without gaps (in the order the chunks took the lock). Processes are forked
where the platform can (nothing to import again), each leaving the parent's pooled connections
alone and opening its own; spawned elsewhere. SQLite has one writer: a run there stays in one
process.
"""

from __future__ import annotations

import gc
import multiprocessing
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

from billow.core.db import Database
from billow.invoices import batch, billing


def shares(ids: list[uuid.UUID], processes: int) -> list[list[uuid.UUID]]:
    """``ids`` dealt out to ``processes`` a chunk at a time (the empty shares left out)."""
    chunks = [ids[start:start + batch.CHUNK] for start in range(0, len(ids), batch.CHUNK)]
    dealt = [[one for chunk in chunks[n::processes] for one in chunk] for n in range(processes)]
    return [share for share in dealt if share]


def _forget(database: Database) -> None:
    """In a forked process: the parent's pooled connections are the parent's, never to be used or
    closed here."""
    database.engine.dispose(close=False)


def _bill_share(url: str, ids: list[uuid.UUID], at: datetime) -> billing.RunReport:
    """One process's share of the run, on its own connections."""
    database = Database(url)
    try:
        report = billing.RunReport([], 0, [])
        batch.bill(database, ids, at, report, billing.one_by_one(database, at, report))
        return report
    finally:
        database.dispose()


def bill(database: Database, ids: list[uuid.UUID], at: datetime, report: billing.RunReport,
         processes: int) -> None:
    """Bill what ``ids`` owe at ``at`` in ``processes`` processes, adding what they did to ``report``."""
    parts = shares(ids, processes)
    if len(parts) <= 1:
        batch.bill(database, ids, at, report, billing.one_by_one(database, at, report))
        return
    forking = "fork" in multiprocessing.get_all_start_methods()
    if forking:
        gc.freeze()  # what the children inherit is never collected there: its pages stay shared
    try:
        with ProcessPoolExecutor(len(parts), mp_context=multiprocessing.get_context("fork" if forking else "spawn"),
                                 initializer=_forget if forking else None,
                                 initargs=(database,) if forking else ()) as pool:
            futures = [pool.submit(_bill_share, database.url, part, at) for part in parts]
            for future in futures:
                done = future.result()
                report.billed.extend(done.billed)
                report.skipped += done.skipped
                report.failed.extend(done.failed)
    finally:
        if forking:
            gc.unfreeze()


__all__ = ["bill", "shares"]
