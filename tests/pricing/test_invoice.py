"""Invoice totals (billow.pricing.invoice): the worked numbers of lago-semantics.md 6 and 7.

* 6.2 coupons example, taken with its tax rates from Lago's coupons breakdown scenario: bm1, bm3,
  bm4 (plan 1) and bm5, bm7, bm8 (plan 2) carry a 10 % tax, bm2 and bm6 a 20 % tax.
* 6.6 progressive billing, 6.8 minimum commitment, 7 wallet consumption.
* Order of credits, drafts, currency exponents, and hypothesis properties of every invoice.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billow.core.money import to_minor_units
from billow.pricing.charge_models import standard
from billow.pricing.invoice import (
    AppliedTax,
    Coupon,
    CouponResult,
    CouponType,
    CreditNote,
    CreditNoteUse,
    Fee,
    FeeKind,
    Frequency,
    InvoiceTotals,
    PaymentStatus,
    TaxRate,
    Wallet,
    WalletUse,
    allocate_progressive_credit,
    commitment_true_up,
    compute_invoice,
    payment_status,
    thresholds_crossed,
)
from billow.pricing.properties import StandardProperties, parse_properties

D = Decimal
T0 = datetime(2023, 1, 1, tzinfo=UTC)
FIXED, PCT = CouponType.FIXED_AMOUNT, CouponType.PERCENTAGE
VAT10, VAT20 = TaxRate("banking_rates1", D(10)), TaxRate("banking_rates2", D(20))


def charge(key: str, cents: int, taxes: tuple[TaxRate, ...] = (), plan: str = "p1",
           progressive: int = 0) -> Fee:
    return Fee(key, FeeKind.CHARGE, cents, billable_metric_id=key, plan_id=plan, charge_id=f"ch-{key}",
               taxes=taxes, progressive_credit_cents=progressive)


def fixed(key: str, cents: int, day: int = 0, currency: str = "EUR", **kw: Any) -> Coupon:
    return Coupon(key, FIXED, Frequency.ONCE, T0 + timedelta(days=day), amount_cents=cents,
                  currency=currency, **kw)


def totals(invoice: InvoiceTotals) -> tuple[int, ...]:
    """fees, progressive, coupons, subtotal excl., taxes, subtotal incl., credit notes, prepaid, total."""
    return (invoice.fees_amount_cents, invoice.progressive_billing_credit_amount_cents,
            invoice.coupons_amount_cents, invoice.sub_total_excluding_taxes_amount_cents,
            invoice.taxes_amount_cents, invoice.sub_total_including_taxes_amount_cents,
            invoice.credit_notes_amount_cents, invoice.prepaid_credit_amount_cents, invoice.total_amount_cents)


# ---- 6.2: the coupons worked example ----------------------------------------------------------

EXAMPLE_FEES = [charge(f"bm{p * 4 + i + 1}", cents, taxes, plan=f"p{p + 1}")
                for p in range(2)
                for i, (cents, taxes) in enumerate(((1000, (VAT10,)), (2000, (VAT20,)),
                                                    (3000, (VAT10,)), (4000, (VAT10,))))]
EXAMPLE_COUPONS = [
    fixed("A", 2000, day=0, billable_metric_ids=("bm1", "bm2")),   # 20 EUR on metrics 1-2 (30 EUR)
    fixed("B", 1000, day=1, plan_ids=("p2",)),                      # 10 EUR on plan 2 (100 EUR)
    fixed("C", 500, day=2),                                         # 5 EUR on everything left
]


@pytest.mark.parametrize(("key", "coupon_share", "tax_cents"), [
    ("bm1", "676.47059", 32), ("bm2", "1352.94117", 129), ("bm3", "88.23529", 291),
    ("bm4", "117.64706", 388), ("bm5", "126.47059", 87), ("bm6", "252.94118", 349),
    ("bm7", "379.41176", 262), ("bm8", "505.88235", 349),
])
def test_coupons_example_fee_shares_and_fee_taxes(key: str, coupon_share: str, tax_cents: int) -> None:
    invoice = compute_invoice(EXAMPLE_FEES, currency="EUR", finalize=True, coupons=EXAMPLE_COUPONS)
    line = next(fee for fee in invoice.fees if fee.key == key)
    assert line.precise_coupons_amount_cents == D(coupon_share)
    assert line.sub_total_excluding_taxes_amount_cents == line.amount_cents - D(coupon_share)
    assert line.taxes_amount_cents == tax_cents


def test_coupons_example_totals() -> None:
    invoice = compute_invoice(EXAMPLE_FEES, currency="EUR", finalize=True, coupons=EXAMPLE_COUPONS)
    assert [(c.key, c.amount_cents, c.terminated) for c in invoice.coupons] == [
        ("A", 2000, True), ("B", 1000, True), ("C", 500, True)]
    assert totals(invoice) == (20_000, 0, 3_500, 16_500, 1_889, 18_389, 0, 0, 18_389)
    # the fee taxes add up to 18.87 EUR; the invoice tax comes from the unrounded per-code sums
    assert sum(fee.taxes_amount_cents for fee in invoice.fees) == 1_887
    assert invoice.applied_taxes == (
        AppliedTax("banking_rates1", D(10), D("14105.88236"), D("1410.588236"), 1_411),
        AppliedTax("banking_rates2", D(20), D("2394.11765"), D("478.823530"), 479))
    assert invoice.payment_status is PaymentStatus.PENDING


def test_a_draft_applies_no_coupon_credit_note_or_wallet() -> None:
    wallets = [Wallet("w", 100_000, D(1), 1, T0, "EUR")]
    invoice = compute_invoice(EXAMPLE_FEES, currency="EUR", finalize=False, coupons=EXAMPLE_COUPONS,
                              credit_notes=[CreditNote("cn", 1_000)], wallets=wallets)
    # 10 % of 160 EUR + 20 % of 40 EUR
    assert totals(invoice) == (20_000, 0, 0, 20_000, 2_400, 22_400, 0, 0, 22_400)
    assert (invoice.coupons, invoice.credit_notes, invoice.wallets) == ((), (), ())
    assert all(fee.precise_coupons_amount_cents == 0 for fee in invoice.fees)


# ---- taxes after coupons and progressive credits ----------------------------------------------


@pytest.mark.parametrize(("fees", "coupons", "expected_totals", "fee_taxes"), [
    # 100 EUR fee, 40 billed progressively, 10 EUR coupon: 20 % tax on 50 EUR
    ([charge("a", 10_000, (VAT20,), progressive=4_000)], [fixed("c", 1_000)],
     (10_000, 4_000, 1_000, 5_000, 1_000, 6_000, 0, 0, 6_000), [1_000]),
    # the coupon splits 2:1; taxes follow each fee's own rate: 20 % of 20 EUR + 10 % of 10 EUR
    ([charge("a", 4_000, (VAT20,)), charge("b", 2_000, (VAT10,))], [fixed("c", 3_000)],
     (6_000, 0, 3_000, 3_000, 500, 3_500, 0, 0, 3_500), [400, 100]),
    # several rates on one fee: 10 % + 20 % of the same base, no compounding
    ([charge("a", 1_005, (VAT10, VAT20))], [],
     (1_005, 0, 0, 1_005, 302, 1_307, 0, 0, 1_307), [302]),
    # one rounding per fee, the invoice from the unrounded sum: 3 x 100.5 -> fee taxes 303, invoice 302
    ([charge("a", 1_005, (VAT10,)), charge("b", 1_005, (VAT10,)), charge("c", 1_005, (VAT10,))], [],
     (3_015, 0, 0, 3_015, 302, 3_317, 0, 0, 3_317), [101, 101, 101]),
])
def test_taxes_are_on_the_fee_after_coupon_and_progressive_credit(
        fees: list[Fee], coupons: list[Coupon], expected_totals: tuple[int, ...], fee_taxes: list[int]) -> None:
    invoice = compute_invoice(fees, currency="EUR", finalize=True, coupons=coupons)
    assert totals(invoice) == expected_totals
    assert [fee.taxes_amount_cents for fee in invoice.fees] == fee_taxes


# ---- 6.6: progressive billing -----------------------------------------------------------------

PER_UNIT = parse_properties("standard", {"amount": "0.0002"})


def usage_fee(units: int) -> Fee:
    assert isinstance(PER_UNIT, StandardProperties)
    cents = to_minor_units(standard(D(units), PER_UNIT).amount, "EUR")
    return Fee("usage", FeeKind.CHARGE, cents, billable_metric_id="api", plan_id="p", charge_id="c")


def test_progressive_billing_example() -> None:
    # 1 000 000 units = 200 EUR reaches the 200 EUR threshold: a progressive invoice of 200 EUR
    assert thresholds_crossed(0, 20_000, [20_000], None).fixed == (20_000,)
    progressive = compute_invoice([usage_fee(1_000_000)], currency="EUR", finalize=True)
    assert progressive.total_amount_cents == 20_000
    # month end, 2 000 000 units: 31 EUR plan + 400 EUR usage, minus the 200 EUR already billed
    allocation = allocate_progressive_credit(20_000, [usage_fee(2_000_000)])
    assert allocation.excess_cents == 0
    subscription = Fee("plan", FeeKind.SUBSCRIPTION, 3_100, plan_id="p")
    period = compute_invoice([subscription, *allocation.fees], currency="EUR", finalize=True)
    assert totals(period) == (43_100, 20_000, 0, 23_100, 0, 23_100, 0, 0, 23_100)
    # a draft already deducts it
    draft = compute_invoice([subscription, *allocation.fees], currency="EUR", finalize=False)
    assert draft.total_amount_cents == 23_100


def test_progressive_credit_leaves_the_coupon_only_what_is_left() -> None:
    fees = allocate_progressive_credit(20_000, [usage_fee(2_000_000)]).fees
    invoice = compute_invoice(fees, currency="EUR", finalize=True, coupons=[fixed("c", 50_000)])
    assert totals(invoice) == (40_000, 20_000, 20_000, 0, 0, 0, 0, 0, 0)
    assert invoice.coupons == (CouponResult("c", True, 20_000, 30_000, None, False),)
    assert invoice.payment_status is PaymentStatus.SUCCEEDED


# ---- 6.1 steps 6-8: credit notes then wallets --------------------------------------------------


def test_credit_notes_then_wallets_after_taxes() -> None:
    fees = [charge("a", 10_000, (VAT20,))]                       # 120 EUR with tax
    notes = [CreditNote("old", 3_000), CreditNote("new", 5_000)]
    wallets = [Wallet("w", 10_000, D(1), 1, T0, "EUR")]
    invoice = compute_invoice(fees, currency="EUR", finalize=True, credit_notes=notes, wallets=wallets)
    assert invoice.credit_notes == (CreditNoteUse("old", 3_000, 0), CreditNoteUse("new", 5_000, 0))
    assert invoice.wallets == (WalletUse("w", 4_000, D("40.00000"), 6_000),)
    assert totals(invoice) == (10_000, 0, 0, 10_000, 2_000, 12_000, 8_000, 4_000, 0)


def test_credit_notes_cover_it_all_and_wallets_pay_nothing() -> None:
    invoice = compute_invoice([charge("a", 1_000)], currency="EUR", finalize=True,
                              credit_notes=[CreditNote("cn", 5_000)],
                              wallets=[Wallet("w", 10_000, D(1), 1, T0, "EUR")])
    assert invoice.credit_notes == (CreditNoteUse("cn", 1_000, 4_000),)
    assert (invoice.wallets, invoice.total_amount_cents) == ((), 0)


# ---- 7: the wallet consumption example --------------------------------------------------------

VAT24 = (TaxRate("vat24", D(24)),)


@pytest.mark.parametrize(("metric", "fee_cents", "balance", "paid", "balance_after", "total"), [
    ("A", 1_429, 3_900, 1_772, 2_128, 0),          # 14.29 + 24 % = 17.72, balance 21.28
    ("B", 1_427, 2_128, 1_769, 359, 0),            # 14.27 + 24 % = 17.69, balance 3.59
    ("C", 1_000, 359, 0, 359, 1_240),              # another metric: the wallet pays nothing
    ("A", 1_000, 359, 359, 0, 881),                # a bigger fee than the balance left
])
def test_wallet_limited_to_metrics(metric: str, fee_cents: int, balance: int, paid: int, balance_after: int,
                                   total: int) -> None:
    wallet = Wallet("w", balance, D(1), 1, T0, "EUR", billable_metric_ids=("A", "B"))
    fee = Fee("f", FeeKind.CHARGE, fee_cents, billable_metric_id=metric, taxes=VAT24)
    invoice = compute_invoice([fee], currency="EUR", finalize=True, wallets=[wallet])
    assert invoice.prepaid_credit_amount_cents == paid
    assert invoice.wallets == ((WalletUse("w", paid, D(paid) / 100, balance_after),) if paid else ())
    assert invoice.total_amount_cents == total
    assert invoice.payment_status is (PaymentStatus.SUCCEEDED if total == 0 else PaymentStatus.PENDING)


@pytest.mark.parametrize(("total", "status"), [(0, PaymentStatus.SUCCEEDED), (1, PaymentStatus.PENDING)])
def test_payment_status(total: int, status: PaymentStatus) -> None:
    assert payment_status(total) is status


# ---- currency exponents -----------------------------------------------------------------------


CURRENCY_FEES = [charge("a", 1_005, (TaxRate("t1", D(10)), TaxRate("t2", D("5.5")))), charge("b", 3_333, (VAT20,))]


@pytest.mark.parametrize(("currency", "coupons", "shares", "fee_taxes", "expected", "credits"), [
    # the EUR coupon applies: shares 171.9018 / 570.0982; taxes 15.5 % of 833.0982 = 129.13 and
    # 20 % of 2762.9018 = 552.58 -> 129 + 553; invoice 681.710581 -> 682
    ("EUR", [542, 100, 100], ("171.90180", "570.09820"), [129, 553],
     (4_338, 0, 742, 3_596, 682, 4_278, 0, 4_278, 0), D("42.78")),
    # the EUR coupon is skipped: taxes 132.72 + 567.95 -> 133 + 568, invoice 700.668 -> 701
    ("JPY", [542, 100, 0], ("148.73444", "493.26556"), [133, 568],
     (4_338, 0, 642, 3_696, 701, 4_397, 0, 4_397, 0), D(4397)),
    ("KWD", [542, 100, 0], ("148.73444", "493.26556"), [133, 568],
     (4_338, 0, 642, 3_696, 701, 4_397, 0, 4_397, 0), D("4.397")),
])
def test_the_same_invoice_in_other_exponents_rounds_to_whole_minor_units(
        currency: str, coupons: list[int], shares: tuple[str, str], fee_taxes: list[int],
        expected: tuple[int, ...], credits: Decimal) -> None:
    # 12.5 % off 4 338 = 542.25 -> 542; a fixed coupon in the invoice currency; one in EUR
    applied = [Coupon("pct", PCT, Frequency.FOREVER, T0, percentage_rate=D("12.5")),
               fixed("own", 100, day=1, currency=currency), fixed("eur", 100, day=2)]
    wallets = [Wallet("w", 1_000_000, D(1), 1, T0, currency)]
    invoice = compute_invoice(CURRENCY_FEES, currency=currency, finalize=True, coupons=applied, wallets=wallets)
    assert [c.amount_cents for c in invoice.coupons] == coupons
    assert tuple(fee.precise_coupons_amount_cents for fee in invoice.fees) == tuple(D(x) for x in shares)
    assert [fee.taxes_amount_cents for fee in invoice.fees] == fee_taxes
    assert totals(invoice) == expected
    assert invoice.wallets == (WalletUse("w", expected[-2], credits, 1_000_000 - expected[-2]),)


def test_unknown_currency() -> None:
    with pytest.raises(ValueError, match="unknown currency"):
        compute_invoice([], currency="XXX", finalize=True)


# ---- 6.8: minimum commitment ------------------------------------------------------------------


@pytest.mark.parametrize(("commitment", "covered", "period", "fees", "expected"), [
    # 10 000 EUR, Feb 28-29 2024 of 29 days: 689.66 EUR committed, fees 36.90 EUR
    (1_000_000, 2, 29, [690, 1_000, 1_000, 1_000], 65_276),
    (1_000_000, 29, 29, [690, 1_000], 998_310),
    (1_000_000, 29, 29, [600_000, 500_000], 0),     # fees above the commitment: no true-up
    (1_000_000, 0, 29, [], 0),
    (1, 1, 2, [], 1),                               # 0.5 cent rounds half-up
    (3, 1, 2, [1], 1),                              # 1.5 -> 2, minus 1
])
def test_commitment_true_up(commitment: int, covered: int, period: int, fees: list[int], expected: int) -> None:
    assert commitment_true_up(commitment, covered, period, fees) == expected


@pytest.mark.parametrize(("covered", "period"), [(-1, 29), (30, 29)])
def test_commitment_coverage_is_within_the_period(covered: int, period: int) -> None:
    with pytest.raises(ValueError, match="covered days"):
        commitment_true_up(1_000, covered, period, [])


# ---- properties -------------------------------------------------------------------------------

RATES = [TaxRate("r0", D(0)), TaxRate("r5", D("5.5")), TaxRate("r10", D(10)), TaxRate("r20", D(20)),
         TaxRate("r27", D("27.25"))]
KINDS = list(FeeKind)


@st.composite
def fees_strategy(draw: st.DrawFn) -> list[Fee]:
    fees = []
    for i in range(draw(st.integers(0, 6))):
        amount = draw(st.one_of(st.integers(0, 100), st.integers(0, 10**9)))
        kind = draw(st.sampled_from(KINDS))
        fees.append(Fee(f"f{i}", kind, amount,
                        billable_metric_id=draw(st.sampled_from(["m1", "m2", "m3"])) if kind is FeeKind.CHARGE else None,
                        plan_id=draw(st.sampled_from(["p1", "p2", None])),
                        taxes=tuple(draw(st.lists(st.sampled_from(RATES), max_size=3, unique=True))),
                        progressive_credit_cents=draw(st.integers(0, amount))))
    return fees


@st.composite
def coupons_strategy(draw: st.DrawFn) -> list[Coupon]:
    coupons = []
    for i in range(draw(st.integers(0, 4))):
        coupon_type = draw(st.sampled_from(list(CouponType)))
        coupons.append(Coupon(
            f"c{i}", coupon_type, draw(st.sampled_from(list(Frequency))),
            T0 + timedelta(days=draw(st.integers(0, 3))),
            amount_cents=draw(st.integers(0, 10**6)),
            percentage_rate=D(draw(st.integers(0, 12_000))) / 100,
            currency=draw(st.sampled_from(["EUR", "USD"])),
            amount_cents_remaining=draw(st.none() | st.integers(0, 10**6)),
            billable_metric_ids=tuple(draw(st.lists(st.sampled_from(["m1", "m2", "m9"]), max_size=2))),
            plan_ids=tuple(draw(st.lists(st.sampled_from(["p1", "p9"]), max_size=1))),
            frequency_duration_remaining=draw(st.none() | st.integers(0, 5))))
    return coupons


wallets_strategy = st.lists(st.builds(
    Wallet, key=st.uuids().map(str), balance_cents=st.integers(0, 10**7),
    rate_amount=st.sampled_from([D(1), D("0.5"), D(3)]), priority=st.integers(1, 50),
    created_at=st.integers(0, 5).map(lambda day: T0 + timedelta(days=day)),
    currency=st.sampled_from(["EUR", "EUR", "USD"]),
    fee_kinds=st.lists(st.sampled_from(KINDS), max_size=2).map(tuple),
    billable_metric_ids=st.lists(st.sampled_from(["m1", "m2"]), max_size=2).map(tuple)), max_size=3,
    unique_by=lambda wallet: wallet.key)
notes_strategy = st.lists(st.builds(CreditNote, key=st.uuids().map(str), balance_cents=st.integers(0, 10**6)),
                          max_size=3)


def assert_no_float(value: object) -> None:
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            assert_no_float(getattr(value, field.name))
    elif isinstance(value, tuple):
        for item in value:
            assert_no_float(item)
    else:
        assert isinstance(value, int | Decimal | str | None), value
        assert not isinstance(value, float)


@settings(max_examples=300, deadline=None)
@given(fees=fees_strategy(), coupons=coupons_strategy(), notes=notes_strategy, wallets=wallets_strategy,
       finalize=st.booleans())
def test_invoice_properties(fees: list[Fee], coupons: list[Coupon], notes: list[CreditNote],
                            wallets: list[Wallet], finalize: bool) -> None:
    invoice = compute_invoice(fees, currency="EUR", finalize=finalize, coupons=coupons, credit_notes=notes,
                              wallets=wallets)
    (fees_cents, progressive, coupons_cents, excluding, taxes, including, notes_cents, prepaid,
     total) = totals(invoice)
    assert total == fees_cents - progressive - coupons_cents + taxes - notes_cents - prepaid
    assert min(totals(invoice)) >= 0
    assert coupons_cents <= fees_cents - progressive
    assert excluding == fees_cents - progressive - coupons_cents
    assert including == excluding + taxes
    assert coupons_cents == sum(c.amount_cents for c in invoice.coupons)
    assert notes_cents == sum(use.amount_cents for use in invoice.credit_notes)
    assert prepaid == sum(use.amount_cents for use in invoice.wallets)
    # every fee keeps a share between 0 and what it bills; the shares add up to the coupons
    for fee, line in zip(fees, invoice.fees, strict=True):
        assert 0 <= line.precise_coupons_amount_cents <= fee.billable_cents
        assert line.sub_total_excluding_taxes_amount_cents >= 0
        assert line.taxes_amount_cents >= 0
    assert abs(sum(line.precise_coupons_amount_cents for line in invoice.fees) - coupons_cents) < 1
    # coupons never grant below 0 nor more than they had; wallets stay within their balance
    for result in invoice.coupons:
        assert result.amount_cents >= 0
        assert result.amount_cents_remaining is None or result.amount_cents_remaining >= 0
    balances = {w.key: w.balance_cents for w in wallets}
    for use in invoice.wallets:
        assert 0 < use.amount_cents <= balances[use.key]
        assert use.balance_cents_after == balances[use.key] - use.amount_cents
    if not finalize:
        assert (coupons_cents, notes_cents, prepaid) == (0, 0, 0)
    assert_no_float(invoice)
