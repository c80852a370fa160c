"""Period boundaries in the customer's timezone; two taxes on one invoice."""

from __future__ import annotations

import httpx

from billow.core.db import Database
from tests.conftest import Org
from tests.scenarios.conftest import (
    Clock,
    bill,
    customer,
    fee_amounts,
    invoices,
    metric,
    ok,
    period,
    plan,
    send,
    subscribe,
    utc,
)


def test_customers_at_utc_plus_10_and_utc_minus_8_around_month_end(api: httpx.Client, at: Clock,
                                                                     database: Database, org: Org) -> None:
    calls = metric(api, "calls", "count_agg")
    plan(api, "tz", 3100, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                    "properties": {"amount": "1"}}])
    customer(api, "brisbane", timezone="Australia/Brisbane")  # UTC+10, no daylight saving
    customer(api, "la", timezone="America/Los_Angeles")  # UTC-8 in January
    # Both start at local midnight on January 1st.
    subscribe(api, at, "sub-bne", "brisbane", "tz", utc(2023, 12, 31, 14))
    subscribe(api, at, "sub-la", "la", "tz", utc(2024, 1, 1, 8))
    send(api, "sub-bne", "calls", utc(2024, 1, 31, 13, 59, 59))  # Jan 31 23:59:59 in Brisbane: January
    send(api, "sub-bne", "calls", utc(2024, 1, 31, 14))  # Feb 1 00:00 in Brisbane: February
    send(api, "sub-la", "calls", utc(2024, 2, 1, 7, 59, 59))  # Jan 31 23:59:59 in Los Angeles: January
    send(api, "sub-la", "calls", utc(2024, 2, 1, 8))  # Feb 1 00:00 in Los Angeles: February

    # At 14:00 UTC on Jan 31 Brisbane's January is over, Los Angeles' is not.
    first = bill(database, org, utc(2024, 1, 31, 14))
    assert [b.subscription_external_id for b in first.billed] == ["sub-bne"]
    assert bill(database, org, utc(2024, 2, 1, 7, 59, 59)).billed == []
    second = bill(database, org, utc(2024, 2, 1, 8))
    assert [b.subscription_external_id for b in second.billed] == ["sub-la"]

    bne, la = invoices(api)
    # Whole local month: 31/31 x 3100 = 3100; one January event at 1.00 -> 100.
    for invoice in (bne, la):
        assert fee_amounts(invoice) == [("subscription", "tz", 3100), ("charge", "calls", 100)]
        assert invoice["total_amount_cents"] == 3200
        assert invoice["issuing_date"] == "2024-02-01"
    assert period(bne) == ("2023-12-31T14:00:00Z", "2024-01-31T13:59:59Z",
                           "2023-12-31T14:00:00Z", "2024-01-31T13:59:59Z")
    assert period(la) == ("2024-01-01T08:00:00Z", "2024-02-01T07:59:59Z",
                          "2024-01-01T08:00:00Z", "2024-02-01T07:59:59Z")


def test_two_taxes_are_rounded_once_per_fee_and_once_per_invoice(api: httpx.Client, at: Clock,
                                                                 database: Database, org: Org) -> None:
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    ok(api.post("taxes", json={"tax": {"name": "Local", "code": "local", "rate": "2.5"}}))
    calls = metric(api, "calls", "sum_agg", "n")
    plan(api, "taxed", 4900, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                       "properties": {"amount": "0.02"}}])
    customer(api, "cus", tax_codes=["vat", "local"])
    subscribe(api, at, "sub", "cus", "taxed", utc(2024, 3, 1))
    send(api, "sub", "calls", utc(2024, 3, 5), n=10_000)
    bill(database, org, utc(2024, 4, 1))
    [invoice] = invoices(api)
    # Fees: the whole month 4900; 10 000 units x 0.02 EUR = 200 EUR = 20 000 cents.
    assert fee_amounts(invoice) == [("subscription", "taxed", 4900), ("charge", "calls", 20000)]
    # Per fee (both rates on the same base, rounded once): 4900 x 22.5 % = 1102.5 -> 1103;
    # 20 000 x 22.5 % = 4500.
    assert [(fee["taxes_rate"], fee["taxes_amount_cents"]) for fee in invoice["fees"]] == [(22.5, 1103),
                                                                                         (22.5, 4500)]
    # Per code on the 24 900 base: VAT 4980, local 622.5 -> 623; the invoice tax is the unrounded
    # sum 5602.5 rounded once -> 5603.
    assert sorted((t["tax_code"], t["amount_cents"], t["fees_amount_cents"]) for t in invoice["applied_taxes"]) == [
        ("local", 623, 24900), ("vat", 4980, 24900)]
    assert invoice["fees_amount_cents"] == 24900
    assert invoice["taxes_amount_cents"] == 5603
    assert invoice["sub_total_including_taxes_amount_cents"] == 30503
    assert invoice["total_amount_cents"] == 30503
