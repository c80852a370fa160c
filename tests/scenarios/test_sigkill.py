"""``billow bill --at`` killed with SIGKILL half-way, in a process of its own, then run again:
every (subscription, period) is invoiced exactly once, numbers run on without a gap or a
duplicate, and a third run creates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from sqlalchemy import func, select

from billow.core import clock
from billow.core.db import Database
from billow.models import Customer, Invoice, InvoiceSubscription, Organization, Subscription
from billow.plans import service as plans_service
from billow.plans.schemas import PlanCreate
from billow.subscriptions import service as subscriptions_service
from billow.subscriptions.schemas import SubscriptionCreate
from tests.conftest import Org
from tests.scenarios.conftest import utc

SUBSCRIPTIONS = 150
MONTHS = 6  # January to June 2024, billed on July 1st
AT = "2024-07-01T00:00:00Z"


def _subscriptions(database: Database, org: Org) -> None:
    with clock.frozen(utc(2024, 1, 1)), database.unit_of_work() as session:
        organization = session.get_one(Organization, org.id)
        plans_service.create(session, organization, PlanCreate.model_validate({
            "name": "basic", "code": "basic", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR"}))
        for n in range(SUBSCRIPTIONS):
            subscriptions_service.create(session, organization, SubscriptionCreate(
                external_customer_id=f"cus-{n:03d}", plan_code="basic", external_id=f"sub-{n:03d}",
                subscription_at=utc(2024, 1, 1)))


def _bill(database: Database, org: Org) -> subprocess.Popen[str]:
    env = {**os.environ, "BILLOW_DATABASE_URL": database.url}
    return subprocess.Popen([sys.executable, "-m", "billow.cli", "bill", "--at", AT, "--org", str(org.id)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _invoices(database: Database, org: Org) -> int:
    with database.unit_of_work(write=False) as session:
        return session.scalar(select(func.count()).select_from(Invoice).where(Invoice.organization_id == org.id)) or 0


def test_a_billing_run_killed_half_way_bills_every_period_once(database: Database, org: Org) -> None:
    _subscriptions(database, org)
    total = SUBSCRIPTIONS * MONTHS

    first = _bill(database, org)
    deadline = time.monotonic() + 120
    while _invoices(database, org) < 20 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL  # killed, not finished
    killed_at = _invoices(database, org)
    assert 20 <= killed_at < total

    second = _bill(database, org)
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert out.splitlines()[-1] == f"{total - killed_at} invoices created, 0 periods already billed, 0 drafts finalized"

    with database.unit_of_work(write=False) as session:
        periods = session.execute(
            select(Subscription.external_id, InvoiceSubscription.charges_from_datetime)
            .join(Subscription, Subscription.id == InvoiceSubscription.subscription_id)
            .where(InvoiceSubscription.organization_id == org.id)).all()
        numbers = session.execute(
            select(Customer.external_id, Invoice.sequential_id, Invoice.number, Invoice.total_amount_cents)
            .join(Customer, Customer.id == Invoice.customer_id).where(Invoice.organization_id == org.id)).all()
    # Each subscription's six months, each once.
    assert Counter((external_id, start.month) for external_id, start in periods) == Counter(
        {(f"sub-{n:03d}", month): 1 for n in range(SUBSCRIPTIONS) for month in range(1, MONTHS + 1)})
    assert len(numbers) == total
    assert len({number for _, _, number, _ in numbers}) == total  # no number given twice
    by_customer: dict[str, list[int]] = {}
    for external_id, sequential_id, number, amount in numbers:
        by_customer.setdefault(external_id, []).append(sequential_id)
        assert number.endswith(f"-{sequential_id:03d}") and amount == 1000  # a whole month of 10.00
    assert all(sorted(ids) == list(range(1, MONTHS + 1)) for ids in by_customer.values())  # 1..6, no gap

    third = _bill(database, org)
    out, err = third.communicate(timeout=600)
    assert third.returncode == 0, err
    assert out.splitlines() == ["0 invoices created, 0 periods already billed, 0 drafts finalized"]
    assert _invoices(database, org) == total
