"""Helpers for subscription tests: plans through the plans API, a settable frozen clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from billow.core import clock

Clock = Callable[[datetime], None]
START = datetime(2024, 3, 15, 10, 30, 0, tzinfo=UTC)


@pytest.fixture
def at() -> Iterator[Clock]:
    """Freezes the clock at START; `at(instant)` moves it (the live server reads the same clock)."""
    with clock.frozen(START):
        yield clock.set_now


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def create_plan(api: httpx.Client, code: str, amount_cents: int = 1000, interval: str = "monthly", **fields: Any) -> dict[str, Any]:
    body = {"name": code.title(), "code": code, "interval": interval, "amount_cents": amount_cents, "amount_currency": "EUR"}
    response = api.post("plans", json={"plan": {**body, **fields}})
    assert response.status_code == 200, response.text
    return response.json()["plan"]  # type: ignore[no-any-return]


def subscribe(api: httpx.Client, external_id: str, plan_code: str, customer: str = "cust", **fields: Any) -> httpx.Response:
    body = {"external_customer_id": customer, "plan_code": plan_code, "external_id": external_id, **fields}
    return api.post("subscriptions", json={"subscription": body})


def subscribed(api: httpx.Client, external_id: str, plan_code: str, customer: str = "cust", **fields: Any) -> dict[str, Any]:
    response = subscribe(api, external_id, plan_code, customer, **fields)
    assert response.status_code == 200, response.text
    return response.json()["subscription"]  # type: ignore[no-any-return]


def error_details(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_errors"
    return body["error_details"]  # type: ignore[no-any-return]


def not_found(response: httpx.Response, resource: str = "subscription") -> None:
    assert response.status_code == 404, response.text
    assert response.json() == {"status": 404, "error": "Not Found", "code": f"{resource}_not_found"}
