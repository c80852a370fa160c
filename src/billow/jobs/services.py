"""Periodic services that belong to no domain yet."""

from __future__ import annotations

import logging
from datetime import timedelta

from billow.jobs import queue
from billow.jobs.worker import JobContext, periodic

log = logging.getLogger("billow.jobs")


@periodic("billing_clock")
def billing_clock(ctx: JobContext) -> None:
    """Bill every subscription period that has ended by ``ctx.now`` and is not invoiced yet, and
    finalize the drafts whose grace period is over (:func:`billow.invoices.billing.bill_due`)."""
    from billow.invoices import billing

    report = billing.bill_due(ctx.database, ctx.now)
    if report.billed or report.finalized:
        log.info("billing clock at %s: %s invoices, %s drafts finalized", ctx.now.isoformat(),
                 len(report.billed), len(report.finalized))
    if report.failed:  # the job fails (and is retried); what was billed stays billed
        raise RuntimeError(f"billing failed for {len(report.failed)} subscriptions: {report.failed[:3]}")


@periodic("progressive_billing")
def progressive_billing(ctx: JobContext) -> None:
    """Issue a progressive invoice for every active subscription whose lifetime usage passed usage
    thresholds by ``ctx.now`` (:func:`billow.invoices.progressive.bill_thresholds`)."""
    from billow.invoices import progressive

    issued = progressive.bill_thresholds(ctx.database, ctx.now)
    if issued:
        log.info("progressive billing at %s: %s invoices", ctx.now.isoformat(), len(issued))


@periodic("jobs_cleanup")
def jobs_cleanup(ctx: JobContext) -> None:
    """Delete jobs that finished more than ``jobs_retention_days`` ago (dead jobs are kept)."""
    with ctx.database.unit_of_work() as session:
        removed = queue.delete_finished(session, ctx.now - timedelta(days=ctx.settings.jobs_retention_days))
    if removed:
        log.info("removed %s finished jobs", removed)
