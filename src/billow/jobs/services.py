"""Periodic services that belong to no domain yet."""

from __future__ import annotations

import logging
from datetime import timedelta

from billow.jobs import queue
from billow.jobs.worker import JobContext, periodic

log = logging.getLogger("billow.jobs")


@periodic("billing_clock")
def billing_clock(ctx: JobContext) -> None:
    """A no-op placeholder for now: it only logs its tick. Nothing is billed here until the
    invoicing work gives it a body (bill every period that has ended by ``ctx.now``)."""
    log.info("billing clock tick at %s (no billing is implemented yet)", ctx.now.isoformat())


@periodic("jobs_cleanup")
def jobs_cleanup(ctx: JobContext) -> None:
    """Delete jobs that finished more than ``jobs_retention_days`` ago (dead jobs are kept)."""
    with ctx.database.unit_of_work() as session:
        removed = queue.delete_finished(session, ctx.now - timedelta(days=ctx.settings.jobs_retention_days))
    if removed:
        log.info("removed %s finished jobs", removed)
