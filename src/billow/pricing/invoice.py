"""Invoice totals, pure (lago-semantics.md 6.1-6.4, 6.8, 7).

:func:`compute_invoice` turns an invoice's rounded fees plus the customer's coupons, credit
notes and wallets into every total, in Lago's order:

1. ``fees_amount_cents`` = Σ fee amounts; progressive-billing credits (per fee) come off first.
2. Coupons (:mod:`billow.pricing.coupons`), finalized invoices only.
3. Taxes per fee on what is left of it, then per tax code (:mod:`billow.pricing.taxes`).
4. Credit notes, then wallets, against the total including taxes, finalized invoices only
   (:mod:`billow.pricing.credits`).

A draft gets progressive credits and taxes only. No total is ever negative. Amounts are minor
units of ``currency``. :func:`commitment_true_up` is the minimum-commitment fee (6.8).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from billow.core.money import is_currency
from billow.pricing.coupons import (
    Coupon,
    CouponResult,
    CouponsOutcome,
    CouponType,
    Frequency,
    apply_coupons,
)
from billow.pricing.credits import (
    CreditNote,
    CreditNoteUse,
    Wallet,
    WalletUse,
    allocate_progressive_credit,
    apply_credit_notes,
    consume_wallets,
    thresholds_crossed,
    wallet_buckets,
)
from billow.pricing.proration import ARITHMETIC, prorate, round_cents
from billow.pricing.taxes import (
    AppliedTax,
    Fee,
    FeeKind,
    TaxRate,
    applied_taxes,
    fee_tax,
    invoice_tax_cents,
    taxes_for_fee,
)


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"


def payment_status(total_amount_cents: int) -> PaymentStatus:
    """A new invoice with nothing to pay is paid; anything else waits for payment."""
    return PaymentStatus.SUCCEEDED if total_amount_cents == 0 else PaymentStatus.PENDING


@dataclass(frozen=True)
class FeeResult:
    key: str
    amount_cents: int
    progressive_credit_cents: int
    precise_coupons_amount_cents: Decimal  # 5 decimals
    sub_total_excluding_taxes_amount_cents: Decimal  # amount - progressive credit - coupons
    taxes_rate: Decimal
    taxes_precise_amount_cents: Decimal
    taxes_amount_cents: int


@dataclass(frozen=True)
class InvoiceTotals:
    currency: str
    fees: tuple[FeeResult, ...]
    coupons: tuple[CouponResult, ...]  # in application order; empty on a draft
    applied_taxes: tuple[AppliedTax, ...]
    credit_notes: tuple[CreditNoteUse, ...]  # empty on a draft
    wallets: tuple[WalletUse, ...]  # wallets that paid something; empty on a draft
    fees_amount_cents: int
    progressive_billing_credit_amount_cents: int
    coupons_amount_cents: int
    sub_total_excluding_taxes_amount_cents: int
    taxes_amount_cents: int
    sub_total_including_taxes_amount_cents: int
    credit_notes_amount_cents: int
    prepaid_credit_amount_cents: int
    total_amount_cents: int

    @property
    def payment_status(self) -> PaymentStatus:
        return payment_status(self.total_amount_cents)


def _fee_results(fees: Sequence[Fee], coupons: CouponsOutcome) -> tuple[FeeResult, ...]:
    results = []
    for fee, share in zip(fees, coupons.fee_shares, strict=True):
        taxable = ARITHMETIC.subtract(Decimal(fee.billable_cents), share)
        tax = fee_tax(fee.taxes, taxable)
        results.append(FeeResult(fee.key, fee.amount_cents, fee.progressive_credit_cents, share, taxable,
                                 tax.taxes_rate, tax.precise_amount_cents, tax.amount_cents))
    return tuple(results)


def compute_invoice(fees: Sequence[Fee], *, currency: str, finalize: bool,
                    coupons: Sequence[Coupon] = (), credit_notes: Sequence[CreditNote] = (),
                    wallets: Sequence[Wallet] = ()) -> InvoiceTotals:
    """Every total of an invoice, from its fees and the customer's credits (module docstring).

    ``coupons`` are the customer's active applied coupons, ``credit_notes`` the credit notes
    with a balance, oldest first, ``wallets`` the active wallets (other currencies are ignored).
    """
    if not is_currency(currency):
        raise ValueError(f"unknown currency {currency!r}")
    fees_cents = sum(fee.amount_cents for fee in fees)
    progressive_cents = sum(fee.progressive_credit_cents for fee in fees)
    coupon_outcome = apply_coupons(fees, coupons if finalize else (), currency)
    lines = _fee_results(fees, coupon_outcome)
    taxes = applied_taxes((fee.taxes, line.sub_total_excluding_taxes_amount_cents)
                          for fee, line in zip(fees, lines, strict=True))
    sub_total = fees_cents - progressive_cents - coupon_outcome.amount_cents
    taxes_cents = invoice_tax_cents(taxes)
    including_taxes = sub_total + taxes_cents
    notes = apply_credit_notes(credit_notes if finalize else (), including_taxes)
    notes_cents = sum(use.amount_cents for use in notes)
    due = including_taxes - notes_cents
    buckets = wallet_buckets(((fee.kind, fee.billable_metric_id,
                               ARITHMETIC.add(line.sub_total_excluding_taxes_amount_cents,
                                              line.taxes_precise_amount_cents))
                              for fee, line in zip(fees, lines, strict=True)), due)
    paid = consume_wallets(wallets if finalize else (), buckets, due, currency)
    prepaid_cents = sum(use.amount_cents for use in paid)
    return InvoiceTotals(
        currency=currency, fees=lines, coupons=coupon_outcome.coupons, applied_taxes=taxes,
        credit_notes=notes, wallets=paid, fees_amount_cents=fees_cents,
        progressive_billing_credit_amount_cents=progressive_cents,
        coupons_amount_cents=coupon_outcome.amount_cents,
        sub_total_excluding_taxes_amount_cents=sub_total, taxes_amount_cents=taxes_cents,
        sub_total_including_taxes_amount_cents=including_taxes,
        credit_notes_amount_cents=notes_cents, prepaid_credit_amount_cents=prepaid_cents,
        total_amount_cents=due - prepaid_cents,
    )


def commitment_true_up(commitment_cents: int, covered_days: int, period_days: int,
                       fees_cents: Iterable[int]) -> int:
    """Minimum-commitment true-up: the commitment prorated to the days it covers (rounded
    half-up once) minus the subscription's fees of the period, never below 0."""
    if not 0 <= covered_days <= period_days:
        raise ValueError("covered days must be between 0 and the period's days")
    committed = round_cents(prorate(commitment_cents, covered_days, period_days))
    return max(0, committed - sum(fees_cents))


__all__ = [
    "AppliedTax", "Coupon", "CouponResult", "CouponType", "CreditNote", "CreditNoteUse", "Fee",
    "FeeKind", "FeeResult", "Frequency", "InvoiceTotals", "PaymentStatus", "TaxRate", "Wallet",
    "WalletUse", "allocate_progressive_credit", "commitment_true_up", "compute_invoice",
    "payment_status", "taxes_for_fee", "thresholds_crossed",
]
