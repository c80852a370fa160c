"""Fee lines and taxes (billow.pricing.taxes): lago-semantics.md 6.3."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billow.pricing.taxes import (
    AppliedTax,
    Fee,
    FeeKind,
    FeeTax,
    TaxRate,
    applied_taxes,
    fee_tax,
    invoice_tax_cents,
    taxes_for_fee,
)

D = Decimal
CHARGE_T, PLAN_T, ADD_ON_T = (TaxRate("charge", D(5)),), (TaxRate("plan", D(10)),), (TaxRate("addon", D(7)),)
CUSTOMER_T, ORG_T = (TaxRate("customer", D(20)),), (TaxRate("org", D("8.5")),)
ALL = {"charge": CHARGE_T, "plan": PLAN_T, "add_on": ADD_ON_T, "customer": CUSTOMER_T, "organization": ORG_T}


def levels(*missing: str) -> dict[str, tuple[TaxRate, ...]]:
    return {name: () if name in missing else taxes for name, taxes in ALL.items()}


@pytest.mark.parametrize(("kind", "missing", "expected"), [
    (FeeKind.CHARGE, (), CHARGE_T),
    (FeeKind.CHARGE, ("charge",), PLAN_T),
    (FeeKind.CHARGE, ("charge", "plan"), CUSTOMER_T),
    (FeeKind.CHARGE, ("charge", "plan", "customer"), ORG_T),
    (FeeKind.CHARGE, ("charge", "plan", "customer", "organization"), ()),
    (FeeKind.FIXED_CHARGE, (), CHARGE_T),
    (FeeKind.FIXED_CHARGE, ("charge",), PLAN_T),
    # subscription and commitment fees have no charge: the charge taxes are not theirs
    (FeeKind.SUBSCRIPTION, (), PLAN_T),
    (FeeKind.SUBSCRIPTION, ("plan",), CUSTOMER_T),
    (FeeKind.COMMITMENT, (), PLAN_T),
    (FeeKind.COMMITMENT, ("plan", "customer"), ORG_T),
    # add-on fees skip plan and charge taxes
    (FeeKind.ADD_ON, (), ADD_ON_T),
    (FeeKind.ADD_ON, ("add_on",), CUSTOMER_T),
    (FeeKind.ADD_ON, ("add_on", "customer"), ORG_T),
    # a wallet top-up is never taxed
    (FeeKind.CREDIT, (), ()),
])
def test_taxes_for_fee_takes_the_most_specific_level(kind: FeeKind, missing: tuple[str, ...],
                                                     expected: tuple[TaxRate, ...]) -> None:
    assert taxes_for_fee(kind, **levels(*missing)) == expected


def test_taxes_for_fee_accepts_any_iterable() -> None:
    assert taxes_for_fee(FeeKind.CHARGE, charge=iter(CHARGE_T)) == CHARGE_T


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"amount_cents": -1}, "negative"),
    ({"amount_cents": 100, "progressive_credit_cents": -1}, "progressive"),
    ({"amount_cents": 100, "progressive_credit_cents": 101}, "progressive"),
    ({"amount_cents": 100, "taxes": (TaxRate("vat", D(20)), TaxRate("vat", D(20)))}, "twice"),
])
def test_fee_rejects_impossible_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fee("f", FeeKind.CHARGE, **kwargs)  # type: ignore[arg-type]


def test_fee_billable_cents_deducts_the_progressive_credit() -> None:
    assert Fee("f", FeeKind.CHARGE, 1000, progressive_credit_cents=300).billable_cents == 700


@pytest.mark.parametrize(("rates", "taxable", "expected"), [
    # 10 % and 5 % of 1000 both on 1000: 150, not 10 % then 5 % of 1100 (155)
    (("10", "5"), "1000", FeeTax(D(15), D(150), 150)),
    # two halves round once: 100.5 + 100.5 = 201 (rounded separately it would be 202)
    (("10", "10"), "1005", FeeTax(D(20), D("201.0"), 201)),
    # a single .5 rounds half-up, not to even
    (("10",), "1005", FeeTax(D(10), D("100.5"), 101)),
    (("10",), "1025", FeeTax(D(10), D("102.5"), 103)),
    (("20",), "323.52941", FeeTax(D(20), D("64.705882"), 65)),
    (("8.5", "0.5"), "12345", FeeTax(D(9), D("1111.05"), 1111)),
    ((), "1000", FeeTax(D(0), D(0), 0)),
    (("20",), "0", FeeTax(D(20), D(0), 0)),
])
def test_fee_tax_adds_unrounded_rates_on_one_base_and_rounds_once(rates: tuple[str, ...], taxable: str,
                                                                  expected: FeeTax) -> None:
    taxes = tuple(TaxRate(f"t{i}", D(rate)) for i, rate in enumerate(rates))
    assert fee_tax(taxes, D(taxable)) == expected


VAT10, VAT20 = TaxRate("vat10", D(10)), TaxRate("vat20", D(20))


@pytest.mark.parametrize(("lines", "expected", "invoice_tax"), [
    # three fees of 10.05 at 10 %: fee taxes 1.01 x 3 = 3.03, invoice 3.015 -> 3.02
    ([((VAT10,), D(1005))] * 3,
     (AppliedTax("vat10", D(10), D(3015), D("301.5"), 302),), 302),
    # two codes each x.5: lines 101 + 101 = 202, invoice from 100.5 + 100.5 = 201
    ([((VAT10,), D(1005)), ((VAT20,), D("502.5"))],
     (AppliedTax("vat10", D(10), D(1005), D("100.5"), 101),
      AppliedTax("vat20", D(20), D("502.5"), D("100.50"), 101)), 201),
    # a fee with both codes counts in both bases; codes in order of first use
    ([((VAT20, VAT10), D(1000)), ((VAT10,), D(500))],
     (AppliedTax("vat20", D(20), D(1000), D(200), 200),
      AppliedTax("vat10", D(10), D(1500), D(150), 150)), 350),
    ([((), D(1000))], (), 0),
])
def test_applied_taxes_per_code_and_invoice_tax_from_the_unrounded_sum(
        lines: list[tuple[tuple[TaxRate, ...], Decimal]], expected: tuple[AppliedTax, ...], invoice_tax: int) -> None:
    taxes = applied_taxes(lines)
    assert taxes == expected
    assert invoice_tax_cents(taxes) == invoice_tax


def test_a_tax_code_keeps_one_rate() -> None:
    with pytest.raises(ValueError, match="two rates"):
        applied_taxes([((VAT10,), D(100)), ((TaxRate("vat10", D(12)),), D(100))])
