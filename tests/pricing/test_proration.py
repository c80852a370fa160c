"""Subscription fee, trials, plan changes and termination credit (billow.pricing.proration).

Every worked number of sections 4 and 5 of lago-semantics.md is asserted to the cent, plus the
cases of Lago's own specs they come from and our own edge cases.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billow.pricing.periods import (
    BillingCycle,
    BillingTime,
    BillingWindow,
    Interval,
    Period,
    end_of_local_day,
)
from billow.pricing.proration import (
    FeeFormula,
    PlanChange,
    SubscriptionFee,
    SubscriptionFeeInput,
    choose_formula,
    credit_note_amounts,
    day_price,
    plan_change,
    prorate,
    round_cents,
    subscription_fee,
    termination_credit,
    trial_end,
    yearly_equivalent_cents,
)

W, M, Q, S, Y = (Interval.WEEKLY, Interval.MONTHLY, Interval.QUARTERLY, Interval.SEMIANNUAL,
                 Interval.YEARLY)
CAL, ANN = BillingTime.CALENDAR, BillingTime.ANNIVERSARY
UP, DOWN = PlanChange.UPGRADE, PlanChange.DOWNGRADE


def utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def first_fee(amount_cents: int, interval: Interval, billing_time: BillingTime, started_at: str,
              tz: str = "UTC", *, terminated_at: str | None = None, trial_days: int | None = None,
              initial_started_at: str | None = None, **situation: object) -> SubscriptionFee:
    """The fee of the first period of a subscription created (and anchored) at ``started_at``."""
    cycle = BillingCycle.for_subscription(interval, billing_time, utc(started_at), tz)
    window = cycle.first_window(utc(started_at), None if terminated_at is None else utc(terminated_at))
    trial = trial_end(utc(initial_started_at or started_at), trial_days)
    return subscription_fee(SubscriptionFeeInput(amount_cents, window, billing_time=billing_time,
                                                 trial_end=trial, **situation))  # type: ignore[arg-type]


# ---- rounding and day price -----------------------------------------------------------------


@pytest.mark.parametrize(("precise", "cents"), [
    ("54.8387", 55), ("0.5", 1), ("2.5", 3), ("1.5", 2), ("1.4999", 1), ("-0.5", -1), ("-2.5", -3),
    ("2741935.4838", 2741935), ("3571.428571", 3571),
])
def test_round_cents_is_half_up_not_bankers(precise: str, cents: int) -> None:
    assert round_cents(Decimal(precise)) == cents


def test_day_price_and_exact_proration() -> None:
    assert day_price(100, 31).quantize(Decimal("0.0001")) == Decimal("3.2258")
    assert day_price(700, 7) == Decimal(100)
    assert prorate(100, 17, 31).quantize(Decimal("0.01")) == Decimal("54.84")
    assert prorate(3100, 31, 31) == Decimal(3100)
    # an exact half cent stays a half (a 50-digit day price times 15 would fall just short of it)
    assert prorate(1, 15, 30) == Decimal("0.5") and round_cents(prorate(1, 15, 30)) == 1
    with pytest.raises(ValueError):
        day_price(100, 0)
    with pytest.raises(ValueError):
        prorate(100, 1, 0)


# ---- trials ---------------------------------------------------------------------------------


def test_trial_end() -> None:
    start = utc("2024-03-05T12:12")
    assert trial_end(start, None) is None
    assert trial_end(start, 0) is None
    assert trial_end(start, 10) == utc("2024-03-15T12:12")
    assert trial_end(start, Decimal("1.5")) == utc("2024-03-07T00:12")
    assert trial_end(start, "0.25") == start + timedelta(hours=6)
    with pytest.raises(ValueError, match="negative"):
        trial_end(start, -1)
    with pytest.raises(ValueError, match="timezone-aware"):
        trial_end(datetime(2024, 3, 5), 3)


# ---- the worked numbers of sections 4 and 5 -------------------------------------------------


def test_monthly_calendar_arrears_started_mid_month() -> None:
    # 1.00 EUR/month, arrears, start Mar 15 -> 17/31 -> 54.84 -> 55 cents
    fee = first_fee(100, M, CAL, "2022-03-15T00:00")
    assert (fee.formula, fee.days, fee.period_days, fee.amount_cents) == (FeeFormula.FIRST_PERIOD, 17, 31, 55)
    assert fee.precise_amount_cents.quantize(Decimal("0.01")) == Decimal("54.84")
    assert fee.day_price == day_price(100, 31)


@pytest.mark.parametrize(("tz", "created_at", "days", "cents"), [
    ("America/Denver", "2023-06-16T05:00", 4, 400),  # Thursday 15th locally -> Thu..Sun
    ("Asia/Karachi", "2023-06-16T20:00", 2, 200),  # Saturday 17th locally -> Sat..Sun
    ("America/Halifax", "2023-06-16T05:00", 3, 300),  # same day as UTC (Friday)
    ("Europe/Paris", "2023-06-16T20:00", 3, 300),
    ("Asia/Karachi", "2023-06-16T05:00", 3, 300),  # 10:00 on Friday in Karachi
])
def test_weekly_calendar_advance_in_customer_timezone(tz: str, created_at: str, days: int,
                                                      cents: int) -> None:
    fee = first_fee(700, W, CAL, created_at, tz, pay_in_advance=True)
    assert (fee.formula, fee.days, fee.amount_cents) == (FeeFormula.FIRST_PERIOD, days, cents)


@pytest.mark.parametrize(("started_at", "trial_days", "days", "cents"), [
    ("2022-03-01T00:00", 3, 28, 90),  # trial Mar 1-3, billed Mar 4-31
    ("2022-03-15T00:00", 3, 14, 45),  # billed Mar 18-31
    ("2022-03-01T00:00", 45, 0, 0),  # the trial covers the whole period
    ("2022-03-15T00:00", 45, 0, 0),
    ("2022-03-15T00:00", None, 17, 55),
])
def test_monthly_trials(started_at: str, trial_days: int | None, days: int, cents: int) -> None:
    for pay_in_advance in (False, True):
        fee = first_fee(100, M, CAL, started_at, trial_days=trial_days, pay_in_advance=pay_in_advance)
        assert (fee.days, fee.amount_cents) == (days, cents)


def test_trial_on_a_large_advance_plan_is_billed_from_the_trial_end_instant() -> None:
    # 50 000 EUR/month advance, start 2024-03-05 12:12, trial 10 -> Mar 15 12:12 .. Mar 31 = 17 days
    fee = first_fee(5_000_000, M, CAL, "2024-03-05T12:12", trial_days=10, pay_in_advance=True)
    assert (fee.days, fee.amount_cents) == (17, 2_741_935)


def test_trial_counts_from_the_first_subscription_start() -> None:
    # 35.00 EUR advance, trial 7, created 2024-03-04 21:00 -> trial ends Mar 11 21:00 -> 21 days
    first = first_fee(3500, M, CAL, "2024-03-04T21:00", trial_days=7, pay_in_advance=True)
    assert (first.days, first.amount_cents) == (21, 2371)
    # terminated and re-created on Mar 5 04:00 with the same external id: the trial is not restarted
    again = first_fee(3500, M, CAL, "2024-03-05T04:00", trial_days=7,
                      initial_started_at="2024-03-04T21:00", pay_in_advance=True)
    assert (again.days, again.amount_cents) == (21, 2371)


@pytest.mark.parametrize(("started_at", "trial_days", "cents"), [
    ("2022-06-20T00:01", None, 100),  # Monday: the whole week
    ("2022-06-20T00:01", 3, 57),  # 4 of 7 days
    ("2022-06-20T00:01", 10, 0),
    ("2022-06-22T00:00", None, 71),  # Wednesday: 5 of 7 days
    ("2022-06-22T00:00", 3, 29),  # Sat..Sun
    ("2022-06-22T00:00", 10, 0),
])
def test_weekly_trials(started_at: str, trial_days: int | None, cents: int) -> None:
    for pay_in_advance in (False, True):
        fee = first_fee(100, W, CAL, started_at, trial_days=trial_days, pay_in_advance=pay_in_advance)
        assert fee.amount_cents == cents


def test_upgrade_credit_and_new_plan_first_fee() -> None:
    # 10.00 EUR/month advance, anniversary on the 29th, upgraded on Sep 28 2023 to 120.00 EUR/year.
    assert plan_change(1000, M, 12000, Y) is UP
    old = BillingCycle.for_subscription(M, ANN, utc("2023-06-29T09:00"))
    upgrade_at = utc("2023-09-28T10:00")
    period = old.period_containing(upgrade_at)
    assert (period.first_day, period.last_day, period.days) == (date(2023, 8, 29), date(2023, 9, 28), 31)
    credit = termination_credit(plan_amount_cents=1000, period=period, terminated_at=upgrade_at,
                                fee_amount_cents=1000, upgrade=True)
    assert (credit.unused_days, credit.amount_cents) == (1, 32)  # 1 day x 1000/31
    # the new yearly plan keeps the anniversary: its period is Jun 29 2023 - Jun 28 2024 (366 days)
    new = BillingCycle(Y, ANN, old.anchor, old.timezone)
    window = new.first_window(upgrade_at)
    fee = subscription_fee(SubscriptionFeeInput(12000, window, pay_in_advance=True, billing_time=ANN,
                                                started_by=UP))
    assert (fee.formula, fee.days, fee.period_days, fee.amount_cents) == (FeeFormula.UPGRADED, 275, 366, 9016)


def test_downgrade_first_period_is_prorated_within_the_inherited_anniversary() -> None:
    # 129 EUR/month -> 1188 EUR/year is cheaper per year: a downgrade, effective Nov 19 2023.
    assert plan_change(12900, M, 118800, Y) is DOWN
    cycle = BillingCycle.for_subscription(Y, ANN, utc("2023-07-19T00:00"))
    window = cycle.first_window(utc("2023-11-19T00:00"))
    assert (window.period.first_day, window.period.last_day) == (date(2023, 7, 19), date(2024, 7, 18))
    fee = subscription_fee(SubscriptionFeeInput(118800, window, pay_in_advance=True, billing_time=ANN,
                                                started_by=DOWN))
    assert (fee.formula, fee.days, fee.amount_cents) == (FeeFormula.FIRST_PERIOD, 243, 78_875)


@pytest.mark.parametrize(("billing_time", "invoice_cents", "unused", "credit", "subtotal", "tax", "total"), [
    # 50 EUR/month advance, 20 % tax, created and terminated Feb 8 2023
    (CAL, 3750, 20, 3571, 3571, 714, 4285),  # invoice 37.50 (+7.50 tax), period Feb 1-28
    (ANN, 5000, 27, 4821, 4821, 964, 5785),  # invoice 50.00 (+10.00 tax), period Feb 8 - Mar 7
])
def test_termination_credit_examples(billing_time: BillingTime, invoice_cents: int, unused: int, credit: int,
                                     subtotal: int, tax: int, total: int) -> None:
    created = utc("2023-02-08T10:00")
    fee = first_fee(5000, M, billing_time, "2023-02-08T10:00", pay_in_advance=True)
    assert fee.amount_cents == invoice_cents
    cycle = BillingCycle.for_subscription(M, billing_time, created)
    terminated_at = utc("2023-02-08T15:00")
    result = termination_credit(plan_amount_cents=5000, period=cycle.period_containing(terminated_at),
                                terminated_at=terminated_at, fee_amount_cents=fee.amount_cents)
    assert (result.unused_days, result.period_days, result.amount_cents) == (unused, 28, credit)
    assert result.precise_amount_cents == prorate(5000, unused, 28)
    amounts = credit_note_amounts(result.precise_amount_cents, 20)
    assert (amounts.sub_total_excluding_taxes_cents, amounts.taxes_cents, amounts.total_cents) == (
        subtotal, tax, total)


def test_terminated_arrears_plan_bills_days_up_to_the_termination() -> None:
    # 10.00 EUR/month arrears, created Dec 15 2022, terminated Dec 20 06:00: Dec 15-20 = 6 days
    fee = first_fee(1000, M, CAL, "2022-12-15T00:00", terminated_at="2022-12-20T06:00", terminated=True)
    assert (fee.formula, fee.days, fee.amount_cents) == (FeeFormula.TERMINATED, 6, 194)


def test_old_side_of_an_upgrade_bills_one_day_less() -> None:
    cycle = BillingCycle.for_subscription(M, CAL, utc("2023-01-10T00:00"))
    september = cycle.period_containing(utc("2023-09-28T10:00"))
    window = cycle.window(september, started_at=utc("2023-01-10T00:00"), terminated_at=utc("2023-09-28T10:00"))
    fee = subscription_fee(SubscriptionFeeInput(3000, window, terminated=True, ended_by=UP,
                                                already_billed=True))
    assert (fee.formula, fee.days, fee.amount_cents) == (FeeFormula.TERMINATED, 27, 2700)  # Sep 1-27 of 30
    plain = subscription_fee(SubscriptionFeeInput(3000, window, terminated=True, already_billed=True))
    assert (plain.days, plain.amount_cents) == (28, 2800)


# ---- which formula --------------------------------------------------------------------------


def _window(started_at: str = "2024-03-15T10:00", billed: str = "2024-03-20T00:00",
            terminated_at: str | None = None) -> BillingWindow:
    cycle = BillingCycle.for_subscription(M, CAL, utc(started_at))
    return cycle.window(cycle.period_containing(utc(billed)), started_at=utc(started_at),
                        terminated_at=None if terminated_at is None else utc(terminated_at))


@pytest.mark.parametrize(("situation", "formula"), [
    ({}, FeeFormula.FIRST_PERIOD),
    ({"terminated": True}, FeeFormula.TERMINATED),
    ({"terminated": True, "ended_by": UP}, FeeFormula.TERMINATED),
    ({"terminated": True, "ended_by": DOWN, "already_billed": True}, FeeFormula.FULL_PERIOD),
    ({"terminated": True, "pay_in_advance": True, "already_billed": True}, FeeFormula.FULL_PERIOD),
    ({"started_by": UP}, FeeFormula.UPGRADED),
    ({"started_by": UP, "first_invoice": False, "already_billed": True}, FeeFormula.FULL_PERIOD),
    ({"started_by": DOWN}, FeeFormula.FIRST_PERIOD),
    ({"pay_in_advance": True, "billing_time": ANN}, FeeFormula.FULL_PERIOD),
    ({"pay_in_advance": True, "billing_time": ANN, "started_by": DOWN}, FeeFormula.FIRST_PERIOD),
    ({"pay_in_advance": True}, FeeFormula.FIRST_PERIOD),
    ({"already_billed": True}, FeeFormula.FULL_PERIOD),
    ({"started_in_past": True, "pay_in_advance": True}, FeeFormula.FULL_PERIOD),
    ({"started_in_past": True}, FeeFormula.FIRST_PERIOD),  # back-dated into this very period
])
def test_choose_formula(situation: dict[str, object], formula: FeeFormula) -> None:
    fee = SubscriptionFeeInput(1000, _window(), **situation)  # type: ignore[arg-type]
    assert choose_formula(fee) is formula


def test_back_dated_before_the_period_bills_the_full_amount() -> None:
    window = _window(started_at="2024-01-20T10:00", billed="2024-03-20T00:00")
    fee = subscription_fee(SubscriptionFeeInput(3100, window, started_in_past=True))
    assert (fee.formula, fee.days, fee.amount_cents) == (FeeFormula.FULL_PERIOD, 31, 3100)


def test_full_amount_anniversary_advance() -> None:
    fee = first_fee(5000, M, ANN, "2023-02-08T10:00", pay_in_advance=True)
    assert (fee.formula, fee.days, fee.precise_amount_cents, fee.amount_cents) == (
        FeeFormula.FULL_PERIOD, 28, Decimal(5000), 5000)


def test_trial_on_a_full_period() -> None:
    # already billed once, the trial ends inside this period: billed from the trial end only
    window = _window(started_at="2024-02-25T00:00", billed="2024-03-20T00:00")
    trial = trial_end(utc("2024-02-25T00:00"), 10)  # Mar 6 00:00
    fee = subscription_fee(SubscriptionFeeInput(3100, window, already_billed=True, trial_end=trial))
    assert (fee.formula, fee.days, fee.amount_cents) == (FeeFormula.FULL_PERIOD, 26, 2600)
    # a trial that ended before the window changes nothing
    early = subscription_fee(SubscriptionFeeInput(3100, window, already_billed=True,
                                                  trial_end=utc("2024-02-27T00:00")))
    assert (early.days, early.amount_cents) == (31, 3100)
    # a trial running past the window bills nothing
    late = subscription_fee(SubscriptionFeeInput(3100, window, already_billed=True,
                                                 trial_end=utc("2024-04-02T00:00")))
    assert (late.days, late.amount_cents) == (0, 0)


def test_trial_on_termination_and_upgrade_formulas() -> None:
    window = _window(started_at="2024-03-01T00:00", billed="2024-03-20T00:00",
                     terminated_at="2024-03-20T12:00")
    trial = utc("2024-03-11T00:00")
    terminated = subscription_fee(SubscriptionFeeInput(3100, window, terminated=True, trial_end=trial))
    assert (terminated.formula, terminated.days, terminated.amount_cents) == (FeeFormula.TERMINATED, 10, 1000)
    upgraded = subscription_fee(SubscriptionFeeInput(3100, _window("2024-03-01T00:00"), started_by=UP,
                                                     trial_end=trial))
    assert (upgraded.formula, upgraded.days, upgraded.amount_cents) == (FeeFormula.UPGRADED, 21, 2100)


# ---- plan changes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "interval", "yearly"), [
    (1000, W, 52_000), (1000, M, 12_000), (1000, Q, 4000), (1000, S, 2000), (1000, Y, 1000),
    (1000, "monthly", 12_000),
])
def test_yearly_equivalent(amount: int, interval: Interval | str, yearly: int) -> None:
    assert yearly_equivalent_cents(amount, interval) == yearly


@pytest.mark.parametrize(("old", "new", "change"), [
    ((1000, M), (12000, Y), UP),  # equal per year: upgrade
    ((1000, M), (11999, Y), DOWN),
    ((12900, M), (118800, Y), DOWN),  # 154 800 > 118 800 per year
    ((1000, W), (5000, M), UP),  # 60 000 >= 52 000
    ((1000, W), (4000, M), DOWN),  # 48 000 < 52 000
    ((10000, Y), (2500, Q), UP),
    ((3000, S), (500, M), UP),
    ((3000, S), (499, M), DOWN),
])
def test_plan_change(old: tuple[int, Interval], new: tuple[int, Interval], change: PlanChange) -> None:
    assert plan_change(old[0], old[1], new[0], new[1]) is change


# ---- termination credit edge cases ----------------------------------------------------------


def _march() -> Period:
    return BillingCycle.for_subscription(M, CAL, utc("2024-01-01T00:00")).period_for_date(date(2024, 3, 1))


@pytest.mark.parametrize(("terminated_at", "kwargs", "unused", "cents"), [
    ("2024-03-10T12:00", {}, 21, 2100),
    ("2024-03-10T12:00", {"upgrade": True}, 22, 2200),
    ("2024-03-31T23:00", {}, 0, 0),  # the last day is used
    ("2024-03-10T12:00", {"fee_amount_cents": 1500}, 21, 1500),  # capped at the fee
    ("2024-03-10T12:00", {"credited_cents": 600}, 21, 1500),  # earlier credit notes deducted
    ("2024-03-10T12:00", {"fee_amount_cents": 500, "credited_cents": 600}, 21, 0),  # never negative
    # trial days were never paid: only days after the trial end are credited
    ("2024-03-10T12:00", {"trial_end": utc("2024-03-20T08:00")}, 12, 1200),
    ("2024-03-10T12:00", {"trial_end": utc("2024-04-20T00:00")}, 0, 0),
    ("2024-03-10T12:00", {"trial_end": utc("2024-03-05T00:00")}, 21, 2100),
])
def test_termination_credit_cases(terminated_at: str, kwargs: dict[str, object], unused: int,
                                  cents: int) -> None:
    args: dict[str, object] = {"fee_amount_cents": 3100, **kwargs}
    credit = termination_credit(plan_amount_cents=3100, period=_march(), terminated_at=utc(terminated_at),
                                **args)  # type: ignore[arg-type]
    assert (credit.unused_days, credit.amount_cents) == (unused, cents)


def test_termination_day_is_the_customer_local_day() -> None:
    cycle = BillingCycle.for_subscription(M, CAL, utc("2024-01-01T00:00"), "Asia/Tokyo")
    terminated_at = utc("2024-03-10T16:00")  # already Mar 11 in Tokyo
    credit = termination_credit(plan_amount_cents=3100, period=cycle.period_containing(terminated_at),
                                terminated_at=terminated_at, fee_amount_cents=3100)
    assert (credit.unused_days, credit.amount_cents) == (20, 2000)


@pytest.mark.parametrize(("items", "rate", "coupons", "expected"), [
    ("3571.428571", 20, 0, (3571, 714, 4285)),  # total rounds up to 4286, nudged down
    ("0.5", 100, 0, (1, 1, 2)),  # total rounds to 1, nudged up
    ("1000", 20, 0, (1000, 200, 1200)),
    ("1000", "5.5", "100", (900, 50, 950)),  # 49.5 tax rounds half up
])
def test_credit_note_amounts(items: str, rate: int | str, coupons: int | str,
                             expected: tuple[int, int, int]) -> None:
    amounts = credit_note_amounts(Decimal(items), rate, Decimal(coupons))
    assert (amounts.sub_total_excluding_taxes_cents, amounts.taxes_cents, amounts.total_cents) == expected
    assert amounts.total_cents == amounts.sub_total_excluding_taxes_cents + amounts.taxes_cents


# ---- properties -----------------------------------------------------------------------------

TIMEZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland",
             "America/Santiago", "Australia/Lord_Howe"]


@settings(max_examples=300, deadline=None)
@given(interval=st.sampled_from(list(Interval)), billing_time=st.sampled_from(list(BillingTime)),
       tz=st.sampled_from(TIMEZONES), amount=st.integers(0, 10**12),
       instant=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 12, 31),
                            timezones=st.just(UTC)),
       anchor=st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)),
       offset=st.integers(0, 86_399))
def test_fee_for_a_whole_period_is_the_plan_amount(interval: Interval, billing_time: BillingTime, tz: str,
                                                    amount: int, instant: datetime, anchor: date,
                                                    offset: int) -> None:
    cycle = BillingCycle(interval, billing_time, anchor, tz)
    period = cycle.period_containing(instant)
    # a subscription starting at the very first instant of the period, billed pro rata...
    window = cycle.window(period, started_at=period.from_datetime)
    fee = subscription_fee(SubscriptionFeeInput(amount, window))
    assert fee.formula is FeeFormula.FIRST_PERIOD
    assert (fee.days, fee.precise_amount_cents, fee.amount_cents) == (period.days, Decimal(amount), amount)
    # ...or anywhere inside its first local day, bills the whole period too
    started_at = min(period.from_datetime + timedelta(seconds=offset),
                     end_of_local_day(period.first_day, tz))
    later = cycle.window(period, started_at=started_at)
    assert later.from_datetime == period.from_datetime
    assert subscription_fee(SubscriptionFeeInput(amount, later)).amount_cents == amount


@settings(max_examples=300, deadline=None)
@given(amount=st.integers(0, 10**9), period_days=st.integers(7, 366), data=st.data())
def test_prorated_parts_of_a_period_add_up(amount: int, period_days: int, data: st.DataObject) -> None:
    days = data.draw(st.integers(0, period_days))
    total = prorate(amount, days, period_days) + prorate(amount, period_days - days, period_days)
    assert abs(total - amount) < Decimal("1e-40")
    assert abs(round_cents(prorate(amount, days, period_days))
               + round_cents(prorate(amount, period_days - days, period_days)) - amount) <= 1
