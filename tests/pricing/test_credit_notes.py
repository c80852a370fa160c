"""Credit note amounts: coupon adjustment, taxes per code, one rounding each, total = subtotal + taxes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billow.pricing.credit_notes import CreditItem, credit_note_totals, fee_creditable_cents, refundable_cents
from billow.pricing.proration import prorate
from billow.pricing.taxes import TaxRate

VAT = TaxRate("vat", Decimal(20))
LOCAL = TaxRate("local", Decimal("2.5"))


def test_termination_example_keeps_total_equal_to_subtotal_plus_taxes() -> None:
    # 20 unused days of a 50 EUR month of 28 days: 5000 x 20 / 28 = 3571.428...; tax 20 % = 714.29 -> 714;
    # subtotal 3571; the precise sum 4285.71 would round to 4286, the credit note keeps 3571 + 714 = 4285.
    item = CreditItem("fee", prorate(5000, 20, 28), 3750, taxes=(VAT,))
    totals = credit_note_totals([item])
    assert (totals.sub_total_excluding_taxes_amount_cents, totals.taxes_amount_cents,
            totals.total_amount_cents) == (3571, 714, 4285)
    assert totals.coupons_adjustment_amount_cents == 0
    assert totals.taxes_rate == Decimal(20)


def test_coupon_share_and_two_taxes() -> None:
    # Fee 10 000 with 1 000 of coupons; 5 000 credited -> coupon part 5000 x 1000 / 10000 = 500, base 4 500.
    # Taxes on 4 500: 20 % = 900, 2.5 % = 112.5; sum 1012.5 -> 1013. Total 4500 + 1013 = 5513.
    item = CreditItem("fee", Decimal(5000), 10_000, Decimal(1000), (VAT, LOCAL))
    totals = credit_note_totals([item])
    assert totals.precise_coupons_adjustment_amount_cents == Decimal(500)
    assert totals.coupons_adjustment_amount_cents == 500
    assert [(t.code, t.amount_cents) for t in totals.applied_taxes] == [("vat", 900), ("local", 113)]
    assert (totals.sub_total_excluding_taxes_amount_cents, totals.taxes_amount_cents,
            totals.total_amount_cents, totals.taxes_rate) == (4500, 1013, 5513, Decimal("22.5"))


def test_items_of_several_fees_share_each_tax_code() -> None:
    # 333 at 20 % and 333 at 20 % + 2.5 %: vat on 666 = 133.2, local on 333 = 8.325; 141.525 -> 142.
    # Rate = 141.525 / 666 = 21.25 %.
    totals = credit_note_totals([CreditItem("a", Decimal(333), 1000, taxes=(VAT,)),
                                 CreditItem("b", Decimal(333), 1000, taxes=(VAT, LOCAL))])
    assert (totals.taxes_amount_cents, totals.total_amount_cents, totals.taxes_rate) == (142, 808, Decimal("21.25"))


def test_nothing_credited_and_a_fee_of_zero() -> None:
    totals = credit_note_totals([CreditItem("zero", Decimal(0), 0, Decimal(0), (VAT,))])
    assert (totals.total_amount_cents, totals.taxes_rate, totals.coupons_adjustment_amount_cents) == (0, 0, 0)


@pytest.mark.parametrize(("amount", "credited", "left"), [(1000, [], 1000), (1000, ["400", "100.5"], "499.5"),
                                                           (1000, ["1200"], 0)])
def test_fee_creditable(amount: int, credited: list[str], left: int | str) -> None:
    assert fee_creditable_cents(amount, [Decimal(c) for c in credited]) == Decimal(left)


@pytest.mark.parametrize(("paid", "refunded", "left"), [(0, [], 0), (1200, [200, 300], 700), (100, [150], 0)])
def test_refundable(paid: int, refunded: list[int], left: int) -> None:
    assert refundable_cents(paid, refunded) == left
