"""Invoice fee lines and their taxes, pure (lago-semantics.md 6.3).

* :class:`Fee` is one already-rounded fee of an invoice with the taxes that apply to it;
  :func:`taxes_for_fee` picks those taxes (the most specific level that has any wins).
* :func:`fee_tax` taxes one fee: every rate applies to the same taxable base (no compounding)
  and the sum of the unrounded amounts is rounded once.
* :func:`applied_taxes` groups the invoice by tax code. The invoice tax is rounded from the sum
  of the unrounded per-code amounts (:func:`invoice_tax_cents`), which can differ by a few
  cents from the sum of the rounded fee taxes.

Rates are percentages (``Decimal("20")`` is 20 %). Amounts are minor units of the invoice
currency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import reduce

from billow.pricing.proration import ARITHMETIC, round_cents

ZERO = Decimal(0)
_HUNDRED = Decimal(100)


class FeeKind(StrEnum):
    SUBSCRIPTION = "subscription"
    CHARGE = "charge"
    ADD_ON = "add_on"
    FIXED_CHARGE = "fixed_charge"
    COMMITMENT = "commitment"
    CREDIT = "credit"


@dataclass(frozen=True)
class TaxRate:
    code: str
    rate: Decimal  # a percentage: 20 means 20 %


@dataclass(frozen=True)
class Fee:
    """One fee of an invoice, already rounded to whole minor units.

    ``key`` is the caller's fee id. ``progressive_credit_cents`` is the part of this fee already
    billed by progressive-billing invoices of the period (see ``credits.allocate_progressive_credit``).
    """

    key: str
    kind: FeeKind
    amount_cents: int
    billable_metric_id: str | None = None
    plan_id: str | None = None
    charge_id: str | None = None
    taxes: tuple[TaxRate, ...] = ()
    progressive_credit_cents: int = 0

    def __post_init__(self) -> None:
        if self.amount_cents < 0:
            raise ValueError(f"fee {self.key}: amount_cents cannot be negative")
        if not 0 <= self.progressive_credit_cents <= self.amount_cents:
            raise ValueError(f"fee {self.key}: progressive credit must be between 0 and the fee amount")
        codes = [tax.code for tax in self.taxes]
        if len(set(codes)) != len(codes):
            raise ValueError(f"fee {self.key}: a tax code is listed twice")

    @property
    def billable_cents(self) -> int:
        """What is left to bill once progressive invoices are deducted."""
        return self.amount_cents - self.progressive_credit_cents


def taxes_for_fee(kind: FeeKind, *, charge: Iterable[TaxRate] = (), plan: Iterable[TaxRate] = (),
                  add_on: Iterable[TaxRate] = (), customer: Iterable[TaxRate] = (),
                  organization: Iterable[TaxRate] = ()) -> tuple[TaxRate, ...]:
    """The taxes of a fee: the first non-empty level, from the most specific one down.

    Charge and fixed-charge fees: charge, plan, customer, organization. Subscription and
    commitment fees: plan, customer, organization. Add-on fees: add-on, customer, organization.
    Wallet top-up (credit) fees are never taxed.
    """
    if kind is FeeKind.CREDIT:
        return ()
    if kind is FeeKind.ADD_ON:
        specific: tuple[Iterable[TaxRate], ...] = (add_on,)
    elif kind in (FeeKind.CHARGE, FeeKind.FIXED_CHARGE):
        specific = (charge, plan)
    else:
        specific = (plan,)
    for level in (*specific, customer, organization):
        taxes = tuple(level)
        if taxes:
            return taxes
    return ()


def decimal_sum(values: Iterable[Decimal]) -> Decimal:
    """Exact sum (the module context, not the 28-digit default)."""
    return reduce(ARITHMETIC.add, values, ZERO)


def percent_of(base: Decimal, rate: Decimal) -> Decimal:
    """``base x rate / 100``, unrounded."""
    return ARITHMETIC.divide(ARITHMETIC.multiply(base, rate), _HUNDRED)


@dataclass(frozen=True)
class FeeTax:
    taxes_rate: Decimal  # the sum of the fee's rates
    precise_amount_cents: Decimal
    amount_cents: int


def fee_tax(taxes: Iterable[TaxRate], taxable_cents: Decimal) -> FeeTax:
    """Tax of one fee on its taxable base (after coupons and progressive credit): one rounding."""
    rates = [tax.rate for tax in taxes]
    precise = decimal_sum(percent_of(taxable_cents, rate) for rate in rates)
    return FeeTax(decimal_sum(rates), precise, round_cents(precise))


@dataclass(frozen=True)
class AppliedTax:
    """One tax code on the invoice: the taxable base of its fees and the tax on it."""

    code: str
    rate: Decimal
    base_amount_cents: Decimal
    precise_amount_cents: Decimal
    amount_cents: int


def applied_taxes(lines: Iterable[tuple[Iterable[TaxRate], Decimal]]) -> tuple[AppliedTax, ...]:
    """Per tax code, in order of first use: Σ taxable bases of its fees x rate, rounded once.

    ``lines`` are (taxes of a fee, taxable base of that fee). A code must keep one rate.
    """
    rates: dict[str, Decimal] = {}
    bases: dict[str, Decimal] = {}
    for taxes, taxable_cents in lines:
        for tax in taxes:
            if rates.setdefault(tax.code, tax.rate) != tax.rate:
                raise ValueError(f"tax {tax.code} is used with two rates")
            bases[tax.code] = ARITHMETIC.add(bases.get(tax.code, ZERO), taxable_cents)
    result = []
    for code, base in bases.items():
        precise = percent_of(base, rates[code])
        result.append(AppliedTax(code, rates[code], base, precise, round_cents(precise)))
    return tuple(result)


def invoice_tax_cents(taxes: Iterable[AppliedTax]) -> int:
    """The invoice tax: the unrounded per-code amounts added up, then rounded once."""
    return round_cents(decimal_sum(tax.precise_amount_cents for tax in taxes))


__all__ = [
    "AppliedTax", "Fee", "FeeKind", "FeeTax", "TaxRate", "applied_taxes", "decimal_sum", "fee_tax",
    "invoice_tax_cents", "percent_of", "taxes_for_fee",
]
