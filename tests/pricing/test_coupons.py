"""Coupons (billow.pricing.coupons): order, amounts, fee shares and lifecycle, lago-semantics.md 6.2.

The full coupons worked example (taxes and totals included) is in test_invoice.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from billow.pricing.coupons import (
    Coupon,
    CouponResult,
    CouponScope,
    CouponType,
    Frequency,
    application_order,
    apply_coupons,
    coupon_credit_cents,
)
from billow.pricing.taxes import Fee, FeeKind

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)
FIXED, PCT = CouponType.FIXED_AMOUNT, CouponType.PERCENTAGE
ONCE, RECURRING, FOREVER = Frequency.ONCE, Frequency.RECURRING, Frequency.FOREVER


def fixed(key: str, cents: int, frequency: Frequency = ONCE, day: int = 0, **kw: Any) -> Coupon:
    return Coupon(key, FIXED, frequency, T0 + timedelta(days=day), amount_cents=cents, currency="EUR", **kw)


def pct(key: str, rate: str, frequency: Frequency = ONCE, day: int = 0, **kw: Any) -> Coupon:
    return Coupon(key, PCT, frequency, T0 + timedelta(days=day), percentage_rate=D(rate), **kw)


def charge(key: str, cents: int, metric: str | None = None, plan: str = "p1", progressive: int = 0) -> Fee:
    return Fee(key, FeeKind.CHARGE, cents, billable_metric_id=metric or key, plan_id=plan,
               progressive_credit_cents=progressive)


def test_application_order_metric_then_plan_then_unrestricted_oldest_first() -> None:
    coupons = [fixed("general-old", 1, day=0), fixed("plan-new", 1, day=5, plan_ids=("p",)),
               fixed("metric-new", 1, day=9, billable_metric_ids=("m",)), fixed("general-new", 1, day=3),
               fixed("plan-old", 1, day=1, plan_ids=("p",)),
               fixed("metric-old", 1, day=2, billable_metric_ids=("m",), plan_ids=("p",))]
    assert [c.key for c in application_order(coupons)] == [
        "metric-old", "metric-new", "plan-old", "plan-new", "general-old", "general-new"]
    assert [c.scope for c in application_order(coupons)][::2] == list(CouponScope)


@pytest.mark.parametrize(("coupon", "base", "expected"), [
    (pct("p", "10"), D(1005), 101),           # 100.5 rounds half-up
    (pct("p", "10"), D(1025), 103),           # 102.5 -> 103, not to even
    (pct("p", "12.5"), D(999), 125),          # 124.875
    (pct("p", "33.33"), D(1001), 334),        # 333.6333
    (pct("p", "100"), D(1001), 1001),
    (pct("p", "150"), D(1001), 1001),         # capped at the base
    (pct("p", "100"), D("333.33333"), 333),   # a fractional base is cut to whole cents
    (fixed("f", 500), D(1001), 500),
    (fixed("f", 5000), D(1001), 1001),        # capped at the base
    (fixed("f", 5000), D("666.66667"), 666),
    (fixed("f", 5000, amount_cents_remaining=300), D(1001), 300),  # what is left to grant
    (fixed("f", 500), D(0), 0),
])
def test_coupon_credit(coupon: Coupon, base: Decimal, expected: int) -> None:
    assert coupon_credit_cents(coupon, base) == expected


def keys_amounts(outcome_coupons: tuple[CouponResult, ...]) -> list[tuple[str, int]]:
    return [(c.key, c.amount_cents) for c in outcome_coupons]


@pytest.mark.parametrize(("coupons", "expected", "total"), [
    # the metric-limited coupon goes first even though applied last; the plan one next
    ([fixed("general", 500, day=0), fixed("plan", 400, day=1, plan_ids=("p2",)),
      fixed("metric", 300, day=2, billable_metric_ids=("m1",))],
     [("metric", 300), ("plan", 400), ("general", 500)], 1200),
    # stop at 0: the first coupon takes the whole invoice, the rest keep their state
    ([fixed("big", 10_000, day=0), fixed("later", 100, day=1), pct("pct", "10", day=2)],
     [("big", 3000), ("later", 0), ("pct", 0)], 3000),
    # ties inside a group by application date
    ([fixed("b", 2500, day=2), fixed("a", 1000, day=1)], [("a", 1000), ("b", 2000)], 3000),
    # a percentage coupon on the running subtotal after the fixed one: 10 % of 2000
    ([pct("pct", "10", day=0), fixed("fix", 1000, day=1, billable_metric_ids=("m1",))],
     [("fix", 1000), ("pct", 200)], 1200),
])
def test_coupons_apply_in_order_and_stop_at_zero(coupons: list[Coupon], expected: list[tuple[str, int]],
                                                  total: int) -> None:
    fees = [charge("m1", 1000, plan="p1"), charge("m2", 2000, plan="p2")]
    outcome = apply_coupons(fees, coupons, "EUR")
    assert keys_amounts(outcome.coupons) == expected
    assert outcome.amount_cents == total
    assert sum(outcome.fee_shares) == total


def test_restricted_coupon_shares_its_target_fees_only() -> None:
    fees = [charge("m1", 1000), charge("m2", 2000), charge("m3", 3000, plan="p2")]
    outcome = apply_coupons(fees, [fixed("a", 2000, billable_metric_ids=("m1", "m2"))], "EUR")
    assert outcome.fee_shares == (D("666.66667"), D("1333.33333"), D(0))


def test_progressive_credit_is_not_discounted_again() -> None:
    # 1000 of the 3000 were billed by a progressive invoice: a 100 % coupon takes the other 2000
    fees = [charge("m1", 3000, progressive=1000), charge("m2", 1000)]
    outcome = apply_coupons(fees, [pct("all", "100")], "EUR")
    assert outcome.amount_cents == 3000
    assert outcome.fee_shares == (D(2000), D(1000))


@pytest.mark.parametrize(("coupon", "fees_cents", "expected"), [
    # once fixed larger than the invoice: grants 30 EUR, carries 20 EUR, stays active
    (fixed("c", 5000), 3000, CouponResult("c", True, 3000, 2000, None, False)),
    # the carried 20 EUR on the next invoice: used up, terminated
    (fixed("c", 5000, amount_cents_remaining=2000), 3000, CouponResult("c", True, 2000, 0, None, True)),
    (fixed("c", 3000), 3000, CouponResult("c", True, 3000, 0, None, True)),
    # once percentage ends after one invoice whatever it granted
    (pct("c", "10"), 3000, CouponResult("c", True, 300, None, None, True)),
    # recurring: one use counted down, terminated when none is left
    (fixed("c", 500, RECURRING, frequency_duration_remaining=3), 3000,
     CouponResult("c", True, 500, 0, 2, False)),
    (fixed("c", 500, RECURRING, frequency_duration_remaining=1), 3000,
     CouponResult("c", True, 500, 0, 0, True)),
    (pct("c", "50", RECURRING, frequency_duration_remaining=2), 3000,
     CouponResult("c", True, 1500, None, 1, False)),
    # forever: never ends, nothing counted
    (fixed("c", 500, FOREVER), 3000, CouponResult("c", True, 500, 0, None, False)),
    (fixed("c", 5000, FOREVER), 3000, CouponResult("c", True, 3000, 2000, None, False)),
    (pct("c", "20", FOREVER), 3000, CouponResult("c", True, 600, None, None, False)),
])
def test_coupon_lifecycle(coupon: Coupon, fees_cents: int, expected: CouponResult) -> None:
    outcome = apply_coupons([charge("m1", fees_cents)], [coupon], "EUR")
    assert outcome.coupons == (expected,)


@pytest.mark.parametrize(("coupon", "expected"), [
    # a fixed coupon in another currency is skipped and keeps its state
    (Coupon("usd", FIXED, ONCE, T0, amount_cents=500, currency="USD"),
     CouponResult("usd", False, 0, 500, None, False)),
    # a restricted coupon with no fee on the invoice is skipped too
    (fixed("other", 500, RECURRING, billable_metric_ids=("nope",), frequency_duration_remaining=2),
     CouponResult("other", False, 0, 500, 2, False)),
    (pct("other-plan", "10", plan_ids=("p9",)), CouponResult("other-plan", False, 0, None, None, False)),
    # a percentage coupon has no currency to match
    (Coupon("pct", PCT, ONCE, T0, percentage_rate=D(10), currency="USD"),
     CouponResult("pct", True, 300, None, None, True)),
])
def test_skipped_coupons(coupon: Coupon, expected: CouponResult) -> None:
    outcome = apply_coupons([charge("m1", 3000)], [coupon], "EUR")
    assert outcome.coupons == (expected,)
    assert outcome.amount_cents == expected.amount_cents


def test_restricted_coupon_on_free_fees_counts_a_use_with_nothing_granted() -> None:
    # Lago still applies a coupon whose fees exist but are free: 0 granted, one use counted
    fees = [charge("free", 0), charge("paid", 1000)]
    coupon = fixed("c", 500, RECURRING, billable_metric_ids=("free",), frequency_duration_remaining=2)
    outcome = apply_coupons(fees, [coupon], "EUR")
    assert outcome.coupons == (CouponResult("c", True, 0, 500, 1, False),)
    assert outcome.fee_shares == (D(0), D(0))


def test_no_fees_no_coupon() -> None:
    outcome = apply_coupons([], [fixed("c", 500)], "EUR")
    assert outcome.coupons == (CouponResult("c", False, 0, 500, None, False),)
    assert outcome.amount_cents == 0
