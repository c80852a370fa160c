"""Current usage through the API: visible as soon as the POST returns, priced to the cent."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

MARCH = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())


def setup(api: httpx.Client, *, charges: list[dict[str, Any]], metrics: list[dict[str, Any]],
          currency: str = "EUR", timezone: str | None = None) -> None:
    ids = {}
    for metric in metrics:
        response = api.post("billable_metrics", json={"billable_metric": {"name": metric["code"], **metric}})
        assert response.status_code == 200, response.text
        ids[metric["code"]] = response.json()["billable_metric"]["lago_id"]
    charges = [{**charge, "billable_metric_id": ids[charge["code"]]} for charge in charges]
    plan = {"name": "P", "code": "p", "interval": "monthly", "amount_cents": 1000, "amount_currency": currency,
            "pay_in_advance": False, "charges": charges}
    response = api.post("plans", json={"plan": plan})
    assert response.status_code == 200, response.text
    customer = {"external_id": "cus", "currency": currency, **({"timezone": timezone} if timezone else {})}
    assert api.post("customers", json={"customer": customer}).status_code == 200
    sub = {"external_customer_id": "cus", "plan_code": "p", "external_id": "sub",
           "subscription_at": "2024-02-01T00:00:00Z"}
    response = api.post("subscriptions", json={"subscription": sub})
    assert response.status_code == 200, response.text


def send(api: httpx.Client, *events: dict[str, Any]) -> None:
    body = [{"external_subscription_id": "sub", "transaction_id": f"t{i}-{e['code']}-{e.get('timestamp')}", **e}
            for i, e in enumerate(events)]
    response = api.post("events/batch", json={"events": body})
    assert response.status_code == 200, response.text


def usage(api: httpx.Client, **params: Any) -> dict[str, Any]:
    response = api.get("customers/cus/current_usage", params={"external_subscription_id": "sub", **params})
    assert response.status_code == 200, response.text
    return response.json()["customer_usage"]


def test_usage_of_three_charges_one_with_filters(api: httpx.Client) -> None:
    setup(
        api,
        metrics=[
            {"code": "calls", "aggregation_type": "count_agg"},
            {"code": "tokens", "aggregation_type": "sum_agg", "field_name": "tokens",
             "filters": [{"key": "model", "values": ["small", "large"]}]},
            {"code": "users", "aggregation_type": "unique_count_agg", "field_name": "user"},
        ],
        charges=[
            {"code": "calls", "charge_model": "standard", "properties": {"amount": "0.01"}},
            {"code": "tokens", "charge_model": "standard", "properties": {"amount": "0.000002"},
             "filters": [{"values": {"model": ["large"]}, "properties": {"amount": "0.00001"}}]},
            {"code": "users", "charge_model": "graduated", "properties": {"graduated_ranges": [
                {"from_value": 0, "to_value": 1, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": 2, "to_value": None, "per_unit_amount": "2.50", "flat_amount": "0"}]}},
        ],
    )
    send(
        api,
        *[{"code": "calls", "timestamp": MARCH + 3600 * i} for i in range(7)],
        {"code": "tokens", "timestamp": MARCH + 10, "properties": {"tokens": 1_000_000, "model": "small"}},
        {"code": "tokens", "timestamp": MARCH + 20, "properties": {"tokens": "250000.5", "model": "large"}},
        {"code": "tokens", "timestamp": MARCH + 30, "properties": {"tokens": 1000, "model": "other"}},
        {"code": "users", "timestamp": MARCH + 40, "properties": {"user": "a"}},
        {"code": "users", "timestamp": MARCH + 50, "properties": {"user": "b"}},
        {"code": "users", "timestamp": MARCH + 60, "properties": {"user": "c"}},
        {"code": "users", "timestamp": MARCH + 70, "properties": {"user": "a"}},
        {"code": "calls", "timestamp": MARCH - 10},  # February: another period
    )
    result = usage(api)
    assert (result["from_datetime"], result["to_datetime"]) == ("2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z")
    by_code = {c["charge"]["code"]: c for c in result["charges_usage"]}
    assert (by_code["calls"]["units"], by_code["calls"]["amount_cents"]) == ("7", 7)
    tokens = by_code["tokens"]
    # default bucket: 1 001 000 tokens x 0.000002 = 2.002 -> 200 cents; large: 250 000.5 x 0.00001 = 2.500005 -> 250
    assert [(f["values"], f["units"], f["amount_cents"]) for f in tokens["filters"]] == [
        (None, "1001000", 200), ({"model": ["large"]}, "250000.5", 250)
    ]
    assert tokens["amount_cents"] == 450
    assert by_code["users"]["units"] == "3"
    assert by_code["users"]["amount_cents"] == 500  # 2 users past the first at 2.50
    assert result["amount_cents"] == 7 + 450 + 500
    assert result["total_amount_cents"] == result["amount_cents"]  # no taxes configured


def test_an_event_is_visible_as_soon_as_its_post_returns(api: httpx.Client) -> None:
    setup(api, metrics=[{"code": "gb", "aggregation_type": "sum_agg", "field_name": "gb"}],
          charges=[{"code": "gb", "charge_model": "standard", "properties": {"amount": "0.5"}}])
    for i in range(1, 6):
        send(api, {"code": "gb", "timestamp": MARCH + i, "transaction_id": f"gb{i}", "properties": {"gb": "1.5"}})
        result = usage(api)
        assert result["charges_usage"][0]["units"] == str(Decimal("1.5") * i)
        assert result["amount_cents"] == 75 * i


def test_taxes_apply_from_the_organization_level(api: httpx.Client) -> None:
    assert api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": 20,
                                           "applied_to_organization": True}}).status_code == 200
    setup(api, metrics=[{"code": "calls", "aggregation_type": "count_agg"}],
          charges=[{"code": "calls", "charge_model": "standard", "properties": {"amount": "0.333"}}])
    send(api, *[{"code": "calls", "timestamp": MARCH + i} for i in range(3)])
    result = usage(api)
    assert (result["amount_cents"], result["taxes_amount_cents"], result["total_amount_cents"]) == (100, 20, 120)
    assert usage(api, apply_taxes="false")["taxes_amount_cents"] == 0


def test_a_plan_change_adding_a_group_key_rebuilds_the_aggregates(api: httpx.Client) -> None:
    setup(api, metrics=[{"code": "calls", "aggregation_type": "count_agg"}],
          charges=[{"code": "calls", "charge_model": "standard", "properties": {"amount": "1"}}])
    send(api, {"code": "calls", "timestamp": MARCH, "properties": {"region": "eu"}},
         {"code": "calls", "timestamp": MARCH + 1, "properties": {"region": "us"}},
         {"code": "calls", "timestamp": MARCH + 2, "properties": {"region": "eu"}})
    plan = api.get("plans/p").json()["plan"]
    charge = plan["charges"][0]
    response = api.put("plans/p", json={"plan": {"cascade_updates": True, "charges": [
        {"id": charge["lago_id"], "billable_metric_id": charge["lago_billable_metric_id"], "charge_model": "standard",
         "properties": {"amount": "1", "pricing_group_keys": ["region"]}}]}})
    assert response.status_code == 200, response.text
    grouped = usage(api)["charges_usage"][0]["grouped_usage"]
    assert sorted((g["grouped_by"]["region"], g["units"]) for g in grouped) == [("eu", "2"), ("us", "1")]


def test_usage_errors(api: httpx.Client) -> None:
    assert api.get("customers/nobody/current_usage", params={"external_subscription_id": "x"}).status_code == 404
    assert api.post("customers", json={"customer": {"external_id": "cus"}}).status_code == 200
    response = api.get("customers/cus/current_usage", params={"external_subscription_id": "x"})
    assert (response.status_code, response.json()["code"]) == (405, "no_active_subscription")


def test_estimate_fees_prices_one_pay_in_advance_event(api: httpx.Client) -> None:
    setup(api, metrics=[{"code": "seats", "aggregation_type": "sum_agg", "field_name": "n"}],
          charges=[{"code": "seats", "charge_model": "graduated", "pay_in_advance": True, "invoiceable": True,
                    "properties": {"graduated_ranges": [
                        {"from_value": 0, "to_value": 5, "per_unit_amount": "10", "flat_amount": "1"},
                        {"from_value": 6, "to_value": None, "per_unit_amount": "4", "flat_amount": "0"}]}}])
    send(api, {"code": "seats", "timestamp": MARCH + 5, "properties": {"n": 4}})
    body = {"event": {"code": "seats", "external_subscription_id": "sub", "transaction_id": None,
                      "timestamp": None, "properties": {"n": 3}, "precise_total_amount_cents": None}}
    with_unchanged = api.post("events/estimate_fees", json=body)
    assert with_unchanged.status_code == 200, with_unchanged.text
    (fee,) = with_unchanged.json()["fees"]
    # 4 seats -> 7: one more seat at 10 in the first tier, two at 4 in the second.
    assert (fee["amount_cents"], fee["units"], fee["pay_in_advance"]) == (1800, "3", True)
    assert api.get("events").json()["meta"]["total_count"] == 1  # nothing stored


def test_estimate_fees_errors(api: httpx.Client) -> None:
    body = {"event": {"code": "seats", "external_subscription_id": "nope"}}
    response = api.post("events/estimate_fees", json=body)
    assert (response.status_code, response.json()["code"]) == (404, "subscription_not_found")


def test_a_prorated_recurring_charge_counts_days_in_the_period(api: httpx.Client) -> None:
    setup(api, metrics=[{"code": "seats", "aggregation_type": "sum_agg", "field_name": "n", "recurring": True}],
          charges=[{"code": "seats", "charge_model": "standard", "prorated": True, "properties": {"amount": "31"}}])
    send(api, {"code": "seats", "timestamp": MARCH - 5 * 86400, "properties": {"n": 2}},  # carried from February
         {"code": "seats", "timestamp": MARCH + 25 * 86400, "properties": {"n": 1}})  # March 26: 6 of 31 days
    charge = usage(api)["charges_usage"][0]
    # 2 seats the whole month + 1 seat for 6/31 -> 2.19355 prorated seats x 31 EUR = 68.00005 -> 68.00
    assert (charge["units"], charge["total_aggregated_units"], charge["amount_cents"]) == ("2.19355", "3", 6800)


def test_events_nothing_bills_yet_are_listed(api: httpx.Client) -> None:
    setup(api, metrics=[{"code": "calls", "aggregation_type": "count_agg"}],
          charges=[{"code": "calls", "charge_model": "standard", "properties": {"amount": "1"}}])
    send(api, {"code": "calls", "timestamp": MARCH}, {"code": "unknown_metric", "timestamp": MARCH},
         {"code": "calls", "timestamp": MARCH, "external_subscription_id": "no_such_subscription"},
         {"code": "calls", "timestamp": MARCH - 60 * 86400})  # before the subscription started
    listed = api.get("events", params={"unmatched": "true"}).json()
    assert sorted((e["code"], e["external_subscription_id"], e["timestamp"][:10]) for e in listed["events"]) == [
        ("calls", "no_such_subscription", "2024-03-01"), ("calls", "sub", "2024-01-01"),
        ("unknown_metric", "sub", "2024-03-01")]
    assert usage(api)["amount_cents"] == 100
    # The metric created later counts the events it was sent before.
    assert api.post("billable_metrics", json={"billable_metric": {
        "name": "u", "code": "unknown_metric", "aggregation_type": "count_agg"}}).status_code == 200
    assert api.get("events", params={"unmatched": "true"}).json()["meta"]["total_count"] == 2


def test_display_names_of_charges_and_filters_label_usage_as_they_are_now(api: httpx.Client) -> None:
    """Display names label usage and fees: the names the charge and its filters have now, null when
    they have none (renaming is not a pricing change, so it applies to the open period at once)."""
    setup(
        api,
        metrics=[{"code": "calls", "aggregation_type": "count_agg"},
                 {"code": "tokens", "aggregation_type": "sum_agg", "field_name": "tokens",
                  "filters": [{"key": "model", "values": ["small", "large"]}]}],
        charges=[{"code": "calls", "charge_model": "standard", "properties": {"amount": "0.01"}},
                 {"code": "tokens", "charge_model": "standard", "properties": {"amount": "0.000002"},
                  "invoice_display_name": "LLM tokens",
                  "filters": [{"values": {"model": ["large"]}, "properties": {"amount": "0.00001"},
                               "invoice_display_name": "Large model"}]}],
    )
    send(api, {"code": "calls", "timestamp": MARCH + 5},
         {"code": "tokens", "timestamp": MARCH + 10, "properties": {"tokens": 1000, "model": "large"}},
         {"code": "tokens", "timestamp": MARCH + 20, "properties": {"tokens": 500, "model": "small"}})

    def labels() -> dict[str, Any]:
        charges = {c["billable_metric"]["code"]: c for c in usage(api)["charges_usage"]}
        return {code: (c["charge"]["invoice_display_name"],
                       sorted((str(f["values"]), f["invoice_display_name"]) for f in c["filters"]))
                for code, c in charges.items()}

    assert labels() == {"calls": (None, []),
                        "tokens": ("LLM tokens", [("None", None), ("{'model': ['large']}", "Large model")])}
    charge = next(c for c in api.get("plans/p").json()["plan"]["charges"] if c["billable_metric_code"] == "tokens")
    body = {"charge": {"invoice_display_name": "Tokens", "filters": [
        {"values": {"model": ["large"]}, "properties": {"amount": "0.00001"}, "invoice_display_name": "Big model"}]}}
    assert api.put(f"plans/p/charges/{charge['code']}", json=body).status_code == 200
    assert labels()["tokens"] == ("Tokens", [("None", None), ("{'model': ['large']}", "Big model")])
