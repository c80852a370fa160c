"""Coupons on an invoice being finalized, pure (lago-semantics.md 6.2).

:func:`apply_coupons` takes the invoice fees and the customer's active applied coupons and
returns what each coupon grants, its state afterwards, and each fee's coupon share.

* Order: coupons limited to billable metrics, then to plans, then unrestricted; oldest
  ``applied_at`` first inside each group. Once the running subtotal (fees - progressive
  credits - coupons so far) is 0, no further coupon applies.
* A fixed coupon in another currency is skipped; so is a restricted coupon with no fee on the
  invoice. Either keeps its state untouched.
* Base: a restricted coupon uses what is left of its target fees; an unrestricted one the
  running subtotal. Percentage: ``base x rate / 100`` rounded half-up, at most the base. Fixed:
  what it still has to grant, at most the base. The credit is whole minor units (a fractional
  base is cut down to the unit below, as an integer column would store it).
* Each target fee gets ``credit x fee left / base`` on top of its share so far, the total kept
  at 5 decimals (half-up). As the credit is at most the base and shares stay on the 5-decimal
  grid, a share never exceeds what its fee bills. Taxes use these shares.
* Afterwards: once-percentage ends; once-fixed ends when it granted all it had left; recurring
  counts one use down and ends at 0; forever never ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import IntEnum, StrEnum

from billow.pricing.proration import ARITHMETIC, round_cents
from billow.pricing.taxes import ZERO, Fee, decimal_sum, percent_of

_SHARE_PLACES = Decimal("0.00001")  # coupon shares are kept with 5 decimals of a minor unit


class CouponType(StrEnum):
    FIXED_AMOUNT = "fixed_amount"
    PERCENTAGE = "percentage"


class Frequency(StrEnum):
    ONCE = "once"
    RECURRING = "recurring"
    FOREVER = "forever"


class CouponScope(IntEnum):
    """Application groups, in the order they are applied."""

    BILLABLE_METRICS = 0
    PLANS = 1
    UNRESTRICTED = 2


@dataclass(frozen=True)
class Coupon:
    """A coupon applied to the customer, as it stands before this invoice.

    ``amount_cents_remaining`` (fixed coupons): what is still to grant; ``None`` means the full
    ``amount_cents``. For a once coupon it is the amount minus earlier credits; for recurring
    and forever coupons, what is left for the current billing period. ``currency`` matters for
    fixed coupons only. A coupon limited to billable metrics ignores ``plan_ids``.
    """

    key: str
    coupon_type: CouponType
    frequency: Frequency
    applied_at: datetime
    amount_cents: int = 0
    percentage_rate: Decimal = ZERO
    currency: str | None = None
    amount_cents_remaining: int | None = None
    billable_metric_ids: tuple[str, ...] = ()
    plan_ids: tuple[str, ...] = ()
    frequency_duration_remaining: int | None = None

    @property
    def scope(self) -> CouponScope:
        if self.billable_metric_ids:
            return CouponScope.BILLABLE_METRICS
        if self.plan_ids:
            return CouponScope.PLANS
        return CouponScope.UNRESTRICTED

    @property
    def is_fixed(self) -> bool:
        return self.coupon_type is CouponType.FIXED_AMOUNT

    @property
    def available_cents(self) -> int:
        return self.amount_cents if self.amount_cents_remaining is None else self.amount_cents_remaining

    def targets(self, fee: Fee) -> bool:
        scope = self.scope
        if scope is CouponScope.BILLABLE_METRICS:
            return fee.billable_metric_id in self.billable_metric_ids
        if scope is CouponScope.PLANS:
            return fee.plan_id in self.plan_ids
        return True


@dataclass(frozen=True)
class CouponResult:
    """What a coupon did on this invoice and its state afterwards (unchanged when not applied)."""

    key: str
    applied: bool
    amount_cents: int
    amount_cents_remaining: int | None  # fixed coupons only
    frequency_duration_remaining: int | None
    terminated: bool


@dataclass(frozen=True)
class CouponsOutcome:
    coupons: tuple[CouponResult, ...]  # in application order
    fee_shares: tuple[Decimal, ...]  # per fee, in the order of the fees given
    amount_cents: int


def application_order(coupons: Sequence[Coupon]) -> list[Coupon]:
    """Metric-limited, then plan-limited, then unrestricted; oldest application first."""
    return sorted(coupons, key=lambda coupon: (coupon.scope, coupon.applied_at))


def coupon_credit_cents(coupon: Coupon, base_cents: Decimal) -> int:
    """What the coupon grants on a base, before any state change."""
    if coupon.is_fixed:
        value = min(Decimal(coupon.available_cents), base_cents)
    else:
        value = min(Decimal(round_cents(percent_of(base_cents, coupon.percentage_rate))), base_cents)
    return int(value.to_integral_value(rounding=ROUND_DOWN))


def _state_after(coupon: Coupon, credit_cents: int) -> CouponResult:
    remaining = coupon.available_cents - credit_cents if coupon.is_fixed else None
    duration = coupon.frequency_duration_remaining
    if coupon.frequency is Frequency.FOREVER:
        terminated = False
    elif coupon.frequency is Frequency.ONCE:
        terminated = not coupon.is_fixed or credit_cents >= coupon.available_cents
    else:
        duration = max((duration or 0) - 1, 0)
        terminated = duration == 0
    return CouponResult(coupon.key, True, credit_cents, remaining, duration, terminated)


def _untouched(coupon: Coupon) -> CouponResult:
    remaining = coupon.available_cents if coupon.is_fixed else None
    return CouponResult(coupon.key, False, 0, remaining, coupon.frequency_duration_remaining, False)


def _five_places(share: Decimal) -> Decimal:
    return share.quantize(_SHARE_PLACES, rounding=ROUND_HALF_UP)


def apply_coupons(fees: Sequence[Fee], coupons: Sequence[Coupon], currency: str) -> CouponsOutcome:
    """Apply the coupons to the fees in Lago's order (see the module docstring)."""
    shares = [ZERO] * len(fees)
    subtotal = sum(fee.billable_cents for fee in fees)
    results: list[CouponResult] = []
    for coupon in application_order(coupons):
        targets = [i for i, fee in enumerate(fees) if coupon.targets(fee)]
        if subtotal <= 0 or (coupon.is_fixed and coupon.currency != currency) or not targets:
            results.append(_untouched(coupon))
            continue
        left = {i: ARITHMETIC.subtract(Decimal(fees[i].billable_cents), shares[i]) for i in targets}
        restricted = coupon.scope is not CouponScope.UNRESTRICTED
        base = decimal_sum(left.values()) if restricted else Decimal(subtotal)
        credit = min(coupon_credit_cents(coupon, base), subtotal)
        if credit > 0:
            for i in targets:
                part = ARITHMETIC.divide(ARITHMETIC.multiply(Decimal(credit), left[i]), base)
                shares[i] = _five_places(ARITHMETIC.add(shares[i], part))
        subtotal -= credit
        results.append(_state_after(coupon, credit))
    granted = sum(result.amount_cents for result in results)
    return CouponsOutcome(tuple(results), tuple(shares), granted)


__all__ = [
    "Coupon", "CouponResult", "CouponScope", "CouponType", "CouponsOutcome", "Frequency",
    "application_order", "apply_coupons", "coupon_credit_cents",
]
