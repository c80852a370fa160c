"""Subscription fee arithmetic, pure: day price, proration, trials, plan changes, termination credit.

The day price of a plan is ``plan.amount_cents / days of the full period`` (7 for a week, the
actual length of the month, quarter, half or year). A prorated fee is ``days billed x day price``
computed exactly as ``amount_cents x days / period_days`` in ``Decimal`` and rounded half-up to
whole cents once (:func:`round_cents`); the unrounded value is kept as ``precise_amount_cents``.
(Computing the product before the division keeps an exact .5 from being lost to a repeating day
price: 1 cent a month of 30 days, 15 days -> 0.5 -> 1 cent.)

Which days are billed depends on the situation (:class:`SubscriptionFeeInput`) and follows
Lago's four formulas, tried in order (:func:`choose_formula`):

1. ``TERMINATED`` - a pay-in-arrears plan terminated (not by a downgrade): from the window start
   to the termination instant; one day less on the old side of an upgrade, the upgrade day being
   billed by the new plan.
2. ``UPGRADED`` - the first invoice of the plan an upgrade created: from the upgrade day to the
   end of the (inherited anniversary) period.
3. ``FULL_PERIOD`` - the plan amount: advance + anniversary + no plan change, a subscription
   already billed a fee, an advance plan back-dated, or any plan back-dated before the period.
4. ``FIRST_PERIOD`` - a first period (or the first period after a downgrade): from the start day.

Free trials (:func:`trial_end`) apply to every formula: a window that ends inside the trial
bills 0; a trial ending inside the window moves the start to the trial end instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from enum import StrEnum

from billow.pricing.periods import (
    ONE_DAY,
    BillingTime,
    BillingWindow,
    Interval,
    Period,
    date_diff_with_timezone,
    local_date,
)

# Exact enough for any amount: a 50-digit quotient of integers up to 10^30.
ARITHMETIC = Context(prec=50)
# Lago rounds half away from zero (Ruby's Float#round / BigDecimal default), not banker's.
FEE_ROUNDING = ROUND_HALF_UP
_MICROSECONDS_PER_DAY = 86_400_000_000


def round_cents(precise_cents: Decimal) -> int:
    """Whole cents, half away from zero: the single rounding of a fee."""
    return int(precise_cents.quantize(Decimal(1), rounding=FEE_ROUNDING))


def day_price(amount_cents: int, period_days: int) -> Decimal:
    """Price of one day of a period of ``period_days`` days, in (fractional) cents."""
    if period_days <= 0:
        raise ValueError("a period has at least one day")
    return ARITHMETIC.divide(Decimal(amount_cents), Decimal(period_days))


def prorate(amount_cents: int, days: int, period_days: int) -> Decimal:
    """``days x day_price``, computed as ``amount_cents x days / period_days`` (one division)."""
    if period_days <= 0:
        raise ValueError("a period has at least one day")
    return ARITHMETIC.divide(ARITHMETIC.multiply(Decimal(amount_cents), Decimal(days)),
                             Decimal(period_days))


# ---- trials ---------------------------------------------------------------------------------


def trial_end(initial_started_at: datetime, trial_period_days: int | Decimal | str | None) -> datetime | None:
    """End of the free trial: the first subscription's start plus ``trial_period_days`` days.

    ``initial_started_at`` is the start of the *first* subscription with this external id: a plan
    change does not restart the trial. No trial (``None`` or 0) gives ``None``. Fractional days
    are honoured to the microsecond.
    """
    if trial_period_days is None:
        return None
    days = Decimal(trial_period_days)
    if days < 0:
        raise ValueError("trial_period cannot be negative")
    if days == 0:
        return None
    if initial_started_at.tzinfo is None:
        raise ValueError("initial_started_at must be timezone-aware")
    return initial_started_at + timedelta(microseconds=int(days * _MICROSECONDS_PER_DAY))


# ---- plan changes ---------------------------------------------------------------------------


class PlanChange(StrEnum):
    """How one subscription replaced another: upgrades apply now, downgrades at period end."""

    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"


def yearly_equivalent_cents(amount_cents: int, interval: Interval | str) -> int:
    """A plan price over a year: weekly x52, monthly x12, quarterly x4, semiannual x2."""
    return amount_cents * Interval(interval).per_year


def plan_change(old_amount_cents: int, old_interval: Interval | str,
                new_amount_cents: int, new_interval: Interval | str) -> PlanChange:
    """Upgrade when the new plan costs at least as much per year as the old one, else downgrade."""
    new = yearly_equivalent_cents(new_amount_cents, new_interval)
    old = yearly_equivalent_cents(old_amount_cents, old_interval)
    return PlanChange.UPGRADE if new >= old else PlanChange.DOWNGRADE


# ---- the subscription fee -------------------------------------------------------------------


class FeeFormula(StrEnum):
    TERMINATED = "terminated"
    UPGRADED = "upgraded"
    FULL_PERIOD = "full_period"
    FIRST_PERIOD = "first_period"


@dataclass(frozen=True)
class SubscriptionFeeInput:
    """Everything that decides one subscription fee.

    ``window`` is the fee window of the billed period (see ``BillingCycle.window``); its
    ``to_datetime`` is the termination instant when the subscription was terminated in it.
    ``ended_by`` marks the old subscription of a plan change, ``started_by`` the new one.
    ``first_invoice`` is False once the subscription has more than one invoice.
    ``already_billed``: a subscription fee was billed for this subscription on an earlier invoice.
    ``started_in_past``: the subscription was created with a ``subscription_at`` before its
    creation day (back-dated). ``trial_end``: see :func:`trial_end`.
    """

    plan_amount_cents: int
    window: BillingWindow
    pay_in_advance: bool = False
    billing_time: BillingTime = BillingTime.CALENDAR
    terminated: bool = False
    ended_by: PlanChange | None = None
    started_by: PlanChange | None = None
    first_invoice: bool = True
    already_billed: bool = False
    started_in_past: bool = False
    trial_end: datetime | None = None


@dataclass(frozen=True)
class SubscriptionFee:
    formula: FeeFormula
    days: int  # days billed; the full period's days when the plan amount is billed whole
    period_days: int
    day_price: Decimal  # plan amount / period_days, for display; the fee is computed exactly
    precise_amount_cents: Decimal
    amount_cents: int


def _bills_full_amount(fee: SubscriptionFeeInput) -> bool:
    if fee.pay_in_advance and fee.billing_time is BillingTime.ANNIVERSARY and fee.started_by is None:
        return True  # the first anniversary period starts on the subscription day: nothing to prorate
    if fee.already_billed:
        return True
    if fee.started_in_past:
        return fee.pay_in_advance or fee.window.started_at < fee.window.period.from_datetime
    return False


def choose_formula(fee: SubscriptionFeeInput) -> FeeFormula:
    """Which of Lago's four subscription fee formulas applies (see the module docstring)."""
    if fee.terminated and not fee.pay_in_advance and fee.ended_by is not PlanChange.DOWNGRADE:
        return FeeFormula.TERMINATED
    if fee.started_by is PlanChange.UPGRADE and fee.first_invoice:
        return FeeFormula.UPGRADED
    if _bills_full_amount(fee):
        return FeeFormula.FULL_PERIOD
    return FeeFormula.FIRST_PERIOD


def subscription_fee(fee: SubscriptionFeeInput) -> SubscriptionFee:
    """The subscription fee of one window: formula, days, precise and rounded amount."""
    formula = choose_formula(fee)
    window = fee.window
    period_days = window.period.days
    price = day_price(fee.plan_amount_cents, period_days)
    start, end, trial = window.from_datetime, window.to_datetime, fee.trial_end
    if trial is not None and trial >= end:
        return SubscriptionFee(formula, 0, period_days, price, Decimal(0), 0)  # all of it is free
    trial_cut = trial if trial is not None and trial > start else None
    if formula is FeeFormula.FULL_PERIOD and trial_cut is None:
        amount = Decimal(fee.plan_amount_cents)
        return SubscriptionFee(formula, period_days, period_days, price, amount, fee.plan_amount_cents)
    days = date_diff_with_timezone(trial_cut or start, end, window.timezone)
    if formula is FeeFormula.TERMINATED and fee.ended_by is PlanChange.UPGRADE:
        days = max(0, days - 1)  # the upgrade day is billed by the new plan
    precise = prorate(fee.plan_amount_cents, days, period_days)
    return SubscriptionFee(formula, days, period_days, price, precise, round_cents(precise))


# ---- termination of a pay-in-advance plan ---------------------------------------------------


@dataclass(frozen=True)
class TerminationCredit:
    unused_days: int
    period_days: int
    precise_amount_cents: Decimal  # after the cap and earlier credit notes
    amount_cents: int


def termination_credit(*, plan_amount_cents: int, period: Period, terminated_at: datetime,
                       fee_amount_cents: int, credited_cents: int | Decimal = 0,
                       upgrade: bool = False, trial_end: datetime | None = None) -> TerminationCredit:
    """Credit for the unused days of a pay-in-advance fee when the subscription ends early.

    ``period`` is the full period the fee paid for (it contains ``terminated_at``). Unused days =
    its last local day - the termination's local day (the termination day counts as used; on an
    upgrade one more day is credited, the new plan billing that day). Days still inside a free
    trial were never paid and are not credited. The credit is capped at the fee's
    ``fee_amount_cents`` minus what earlier credit notes on that fee already credited; never < 0.
    """
    billed_from = local_date(terminated_at, period.timezone)
    if upgrade:
        billed_from -= ONE_DAY
    if trial_end is not None:
        trial_day = local_date(trial_end, period.timezone)
        if trial_day >= billed_from:
            billed_from = period.last_day if trial_day > period.last_day else trial_day - ONE_DAY
    unused_days = max(0, (period.last_day - billed_from).days)
    precise = prorate(plan_amount_cents, unused_days, period.days)
    precise = max(Decimal(0), ARITHMETIC.subtract(min(precise, Decimal(fee_amount_cents)),
                                                  Decimal(credited_cents)))
    return TerminationCredit(unused_days, period.days, precise, round_cents(precise))


@dataclass(frozen=True)
class CreditNoteAmounts:
    sub_total_excluding_taxes_cents: int
    taxes_cents: int
    total_cents: int
    precise_taxes_cents: Decimal


def credit_note_amounts(items_precise_cents: Decimal, taxes_rate: Decimal | int | str,
                        coupons_precise_cents: Decimal | int = 0) -> CreditNoteAmounts:
    """Rounded totals of a credit note from its precise item amount (Lago's reconciliation).

    Subtotal = round(items - coupon part); taxes = round(subtotal_precise x rate%); the total is
    rounded from the precise sum, then moved by one cent if needed so total = subtotal + taxes.
    """
    base = ARITHMETIC.subtract(Decimal(items_precise_cents), Decimal(coupons_precise_cents))
    precise_taxes = ARITHMETIC.divide(ARITHMETIC.multiply(base, Decimal(taxes_rate)), Decimal(100))
    subtotal = round_cents(base)
    taxes = round_cents(precise_taxes)
    total = round_cents(ARITHMETIC.add(base, precise_taxes))
    if total - taxes > subtotal:
        total -= 1
    elif total - taxes < subtotal:
        total += 1
    return CreditNoteAmounts(subtotal, taxes, total, precise_taxes)


__all__ = [
    "ARITHMETIC", "FEE_ROUNDING", "CreditNoteAmounts", "FeeFormula", "PlanChange",
    "SubscriptionFee", "SubscriptionFeeInput", "TerminationCredit", "choose_formula",
    "credit_note_amounts", "day_price", "plan_change", "prorate", "round_cents",
    "subscription_fee", "termination_credit", "trial_end", "yearly_equivalent_cents",
]
