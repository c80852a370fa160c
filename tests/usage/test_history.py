"""Past usage (earlier windows, newest first) and projected usage (linear extrapolation)."""

from __future__ import annotations

import httpx

from tests.usage.test_current_usage import MARCH, send, setup

FEB = MARCH - 29 * 86400


def _calls(api: httpx.Client) -> None:
    setup(api, metrics=[{"code": "calls", "aggregation_type": "count_agg"}],
          charges=[{"code": "calls", "charge_model": "standard", "properties": {"amount": "1"}}])
    send(api, {"code": "calls", "timestamp": FEB + 5}, {"code": "calls", "timestamp": FEB + 6},
         *[{"code": "calls", "timestamp": MARCH + 60 * i} for i in range(3)])


def test_past_usage_lists_earlier_windows(api: httpx.Client) -> None:
    _calls(api)
    response = api.get("customers/cus/past_usage", params={"external_subscription_id": "sub"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"]["total_count"] == 1
    (february,) = body["usage_periods"]
    assert (february["from_datetime"], february["to_datetime"]) == ("2024-02-01T00:00:00Z", "2024-02-29T23:59:59Z")
    assert (february["amount_cents"], february["charges_usage"][0]["units"]) == (200, "2")
    assert api.get("customers/cus/past_usage", params={"external_subscription_id": "sub",
                                                       "periods_count": "x"}).status_code == 422


def test_projected_usage_extrapolates_the_open_window(api: httpx.Client) -> None:
    _calls(api)
    response = api.get("customers/cus/projected_usage", params={"external_subscription_id": "sub"})
    assert response.status_code == 200, response.text
    body = response.json()["customer_projected_usage"]
    # 3 calls in the first 10 of 31 days -> 9.30 projected calls at 1 EUR.
    assert (body["amount_cents"], body["projected_amount_cents"]) == (300, 930)
    assert body["charges_usage"][0]["projected_units"] == "9.30"


def test_the_official_client_reads_usage(lago: object, api: httpx.Client) -> None:
    _calls(api)
    usage = lago.customers.current_usage("cus", "sub")  # type: ignore[attr-defined]
    assert usage.amount_cents == 300
    assert usage.charges_usage[0].units == "3"
