"""The per-token LLM billing template (seed 001): one sum metric filtered by model and type,
package charges per million tokens, a customer in New York, through to the month's invoice."""

from __future__ import annotations

import httpx

from billow.core.db import Database
from tests.conftest import Org
from tests.scenarios.conftest import Clock, bill, invoices, ok, send, subscribe, utc

PACKAGES = {("8k", "input"): "0.03", ("8k", "output"): "0.06", ("32k", "input"): "0.06", ("32k", "output"): "0.12"}


def test_llm_tokens_billed_per_million_in_the_customers_month(api: httpx.Client, at: Clock, database: Database,
                                                              org: Org) -> None:
    metric = ok(api.post("billable_metrics", json={"billable_metric": {
        "name": "AI Tokens", "code": "tokens", "aggregation_type": "sum_agg", "field_name": "tokens",
        "recurring": False, "filters": [{"key": "model", "values": ["8k", "32k"]},
                                        {"key": "type", "values": ["input", "output"]}]}}))["billable_metric"]
    filters = [{"invoice_display_name": f"{model}-{kind}", "values": {"model": [model], "type": [kind]},
                "properties": {"amount": amount, "free_units": 0, "package_size": 1_000_000}}
               for (model, kind), amount in PACKAGES.items()]
    ok(api.post("plans", json={"plan": {
        "name": "OpenAI Pricing", "code": "openai", "amount_cents": 0, "amount_currency": "USD",
        "interval": "monthly", "pay_in_advance": False, "charges": [
            {"billable_metric_id": metric["lago_id"], "charge_model": "package", "filters": filters,
             "properties": {"amount": "0", "free_units": 0, "package_size": 1_000_000}}]}}))
    ok(api.post("customers", json={"customer": {"external_id": "acme", "name": "Acme Inc", "currency": "USD",
                                                "timezone": "America/New_York"}}))
    subscribe(api, at, "acme-sub", "acme", "openai", utc(2024, 3, 5, 15))  # 10:00 in New York
    send(api, "acme-sub", "tokens", utc(2024, 3, 6), tokens=1_000_000, model="8k", type="input")
    send(api, "acme-sub", "tokens", utc(2024, 3, 20), tokens=500_000, model="8k", type="input")
    send(api, "acme-sub", "tokens", utc(2024, 3, 21), tokens=200_000, model="8k", type="output")
    send(api, "acme-sub", "tokens", utc(2024, 3, 22), tokens=3_000_001, model="32k", type="output")
    # Mar 31 23:30 in New York (daylight time since Mar 10, UTC-4): still March.
    send(api, "acme-sub", "tokens", utc(2024, 4, 1, 3, 30), tokens=1, model="32k", type="input")
    # Apr 1 00:00 in New York: April.
    send(api, "acme-sub", "tokens", utc(2024, 4, 1, 4), tokens=9_000_000, model="8k", type="input")

    assert bill(database, org, utc(2024, 4, 1, 3, 59, 59)).billed == []  # March is not over in New York
    bill(database, org, utc(2024, 4, 1, 4))
    [invoice] = invoices(api)
    billed = invoice["billing_periods"][0]
    assert (billed["charges_from_datetime"], billed["charges_to_datetime"]) == ("2024-03-05T15:00:00Z",
                                                                                "2024-04-01T03:59:59Z")
    assert invoice["issuing_date"] == "2024-04-01"
    by_filter = {tuple(sorted((k, v[0]) for k, v in fee["item"]["filters"].items())): (fee["units"], fee["amount_cents"])
                 for fee in invoice["fees"] if fee["item"]["type"] == "charge"}
    # Packages of a million started, each at the filter's price:
    # 8k input 1 500 000 -> 2 x 0.03 = 0.06; 8k output 200 000 -> 1 x 0.06; 32k output 3 000 001 -> 4 x 0.12;
    # 32k input 1 token -> 1 x 0.06.
    assert by_filter == {
        (("model", "8k"), ("type", "input")): ("1500000", 6),
        (("model", "8k"), ("type", "output")): ("200000", 6),
        (("model", "32k"), ("type", "output")): ("3000001", 48),
        (("model", "32k"), ("type", "input")): ("1", 6),
    }
    # Each filter's display name labels its fee.
    assert sorted(fee["item"]["filter_invoice_display_name"] for fee in invoice["fees"]
                  if fee["item"]["type"] == "charge") == ["32k-input", "32k-output", "8k-input", "8k-output"]
    assert [fee["amount_cents"] for fee in invoice["fees"] if fee["item"]["type"] == "subscription"] == [0]
    assert (invoice["currency"], invoice["total_amount_cents"]) == ("USD", 66)
