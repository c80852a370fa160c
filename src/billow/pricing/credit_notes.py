"""Credit note amounts, pure (lago-semantics.md 5.4 and 6.1).

A credit note gives back parts of an invoice's fees (its items, in minor units before coupons
and taxes). :func:`credit_note_totals` works out what that is worth:

* Each item carries its share of the fee's coupons: ``item x fee coupons / fee amount``, kept
  unrounded; the sum is the ``coupons_adjustment``.
* Taxes as on the invoice (:mod:`billow.pricing.taxes`): each item's base (item - its coupon
  part) bears the fee's taxes; per tax code the bases are added and taxed, and the credit
  note's tax is the unrounded per-code amounts added up and rounded once.
* Subtotal = round(items - coupons adjustment); total = subtotal + taxes (the total rounded
  from the precise sum can differ by one cent; the credit note keeps subtotal + taxes).

:func:`fee_creditable_cents` and :func:`refundable_cents` are the limits a new credit note must
stay within.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from billow.pricing.proration import ARITHMETIC, round_cents
from billow.pricing.taxes import ZERO, AppliedTax, TaxRate, applied_taxes, decimal_sum, invoice_tax_cents

_HUNDRED = Decimal(100)
_RATE_PLACES = Decimal("0.00001")


@dataclass(frozen=True)
class CreditItem:
    """Part of one fee given back: ``amount_cents`` (unrounded, minor units) of a fee that billed
    ``fee_amount_cents`` with ``fee_coupons_cents`` of coupons and bears ``taxes``."""

    key: str
    amount_cents: Decimal
    fee_amount_cents: int
    fee_coupons_cents: Decimal = ZERO
    taxes: tuple[TaxRate, ...] = ()

    @property
    def coupons_cents(self) -> Decimal:
        """The item's share of the fee's coupons (unrounded)."""
        if self.fee_amount_cents == 0:
            return ZERO
        return ARITHMETIC.divide(ARITHMETIC.multiply(self.amount_cents, self.fee_coupons_cents),
                                 Decimal(self.fee_amount_cents))

    @property
    def base_cents(self) -> Decimal:
        """What the item gives back before taxes: its amount less its coupon share."""
        return ARITHMETIC.subtract(self.amount_cents, self.coupons_cents)


@dataclass(frozen=True)
class CreditNoteTotals:
    items_amount_cents: Decimal
    precise_coupons_adjustment_amount_cents: Decimal
    coupons_adjustment_amount_cents: int
    applied_taxes: tuple[AppliedTax, ...]
    precise_taxes_amount_cents: Decimal
    taxes_amount_cents: int
    taxes_rate: Decimal  # taxes / subtotal in percent, 5 decimals (the sum of the rates with one tax set)
    sub_total_excluding_taxes_amount_cents: int
    total_amount_cents: int


def credit_note_totals(items: Sequence[CreditItem]) -> CreditNoteTotals:
    """Every amount of a credit note made of ``items`` (see the module docstring)."""
    items_cents = decimal_sum(item.amount_cents for item in items)
    coupons = decimal_sum(item.coupons_cents for item in items)
    base = ARITHMETIC.subtract(items_cents, coupons)
    taxes = applied_taxes((item.taxes, item.base_cents) for item in items)
    precise_taxes = decimal_sum(tax.precise_amount_cents for tax in taxes)
    taxes_cents = invoice_tax_cents(taxes)
    subtotal = round_cents(base)
    rate = ZERO
    if base > 0:
        rate = ARITHMETIC.divide(ARITHMETIC.multiply(precise_taxes, _HUNDRED), base)
        rate = rate.quantize(_RATE_PLACES, rounding=ROUND_HALF_UP)
    return CreditNoteTotals(
        items_amount_cents=items_cents, precise_coupons_adjustment_amount_cents=coupons,
        coupons_adjustment_amount_cents=round_cents(coupons), applied_taxes=taxes,
        precise_taxes_amount_cents=precise_taxes, taxes_amount_cents=taxes_cents, taxes_rate=rate.normalize() + 0,
        sub_total_excluding_taxes_amount_cents=subtotal, total_amount_cents=subtotal + taxes_cents,
    )


def fee_creditable_cents(fee_amount_cents: int, credited: Iterable[Decimal]) -> Decimal:
    """What of a fee is still creditable: its amount less what credit notes already gave back."""
    return max(ZERO, ARITHMETIC.subtract(Decimal(fee_amount_cents), decimal_sum(credited)))


def refundable_cents(paid_cents: int, refunded_cents: Iterable[int]) -> int:
    """What can still be refunded: what the invoice was paid less earlier refunds."""
    return max(0, paid_cents - sum(refunded_cents))


__all__ = ["CreditItem", "CreditNoteTotals", "credit_note_totals", "fee_creditable_cents", "refundable_cents"]
