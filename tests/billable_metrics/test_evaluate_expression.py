"""POST /billable_metrics/evaluate_expression: try an expression on a sample event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetricEvaluateExpression, BillableMetricEvaluateExpressionEvent

from billow.core import clock

EVENT = {"code": "storage", "timestamp": 1651240791, "properties": {"value": "10.4", "units": 2, "region": "eu"}}


def evaluate(api: httpx.Client, expression: Any, event: Any = EVENT) -> httpx.Response:
    return api.post("billable_metrics/evaluate_expression", json={"expression": expression, "event": event})


@pytest.mark.parametrize(
    ("expression", "event", "value"),
    [
        # Numbers come back as decimal text with at least one decimal, as Lago sends them.
        ("round(event.properties.value * event.properties.units)", EVENT, "21.0"),
        ("round(event.properties.value)", {"code": "c", "properties": {"value": "2.4"}}, "2.0"),
        ("event.properties.value * event.properties.units", EVENT, "20.8"),
        ("(123 - 1.23) / 10", EVENT, "12.177"),
        ("1.50 + 0", EVENT, "1.5"),
        ("round(12.34, -1)", EVENT, "10.0"),
        ("0 - 0.5", EVENT, "-0.5"),
        ("0.0000001 * 1", EVENT, "0.0000001"),
        ("1 - 1", EVENT, "0.0"),
        ("-0", EVENT, "0.0"),
        ("event.timestamp", EVENT, "1651240791.0"),
        ("event.timestamp", {**EVENT, "timestamp": "1651240791.25"}, "1651240791.25"),
        ("event.properties.n + 1", {"code": "c", "properties": {"n": 2.5}}, "3.5"),
        # Text stays text.
        ("concat(event.code, '-', event.properties.region)", EVENT, "storage-eu"),
        ("concat('v', event.properties.units)", EVENT, "v2"),
        ("event.properties.flag", {"code": "c", "properties": {"flag": True}}, "true"),
        ("'constant'", EVENT, "constant"),
        # The event is only needed for what the expression reads.
        ("1 + 1", None, "2.0"),
        ("2 * 3", {}, "6.0"),
    ],
)
def test_evaluates(api: httpx.Client, expression: str, event: Any, value: str) -> None:
    body = {"expression": expression} if event is None else {"expression": expression, "event": event}
    response = api.post("billable_metrics/evaluate_expression", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"expression_result": {"value": value}}


def test_timestamp_defaults_to_now(api: httpx.Client) -> None:
    with clock.frozen(datetime(2024, 5, 1, 10, 0, tzinfo=UTC)):
        response = evaluate(api, "event.timestamp", {"code": "c", "properties": {}})
    assert response.json() == {"expression_result": {"value": "1714557600.0"}}


def test_writes_nothing(api: httpx.Client, unchanged) -> None:
    with unchanged():
        assert evaluate(api, "1 + 2").status_code == 200


def assert_422(response: httpx.Response, details: dict[str, list[str]]) -> None:
    assert response.status_code == 422, response.text
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"event": EVENT}, {"expression": ["value_is_mandatory"]}),
        ({"expression": "", "event": EVENT}, {"expression": ["value_is_mandatory"]}),
        ({"expression": None, "event": EVENT}, {"expression": ["value_is_mandatory"]}),
        ({"expression": 12, "event": EVENT}, {"expression": ["value_is_invalid"]}),
        ({"expression": "round(", "event": EVENT}, {"expression": ["invalid_expression"]}),
        ({"expression": "event.properties", "event": EVENT}, {"expression": ["invalid_expression"]}),
        ({"expression": "1", "event": "storage"}, {"event": ["value_is_invalid"]}),
        ({"expression": "1", "event": {"properties": ["a"]}}, {"properties": ["value_is_invalid"]}),
        # The expression parses but cannot be evaluated on this event.
        ({"expression": "event.properties.missing + 1", "event": EVENT}, {"event": ["invalid_event"]}),
        ({"expression": "event.properties.units / 0", "event": EVENT}, {"event": ["invalid_event"]}),
        ({"expression": "event.properties.region * 2", "event": EVENT}, {"event": ["invalid_event"]}),
        ({"expression": "event.code", "event": {"properties": {}}}, {"event": ["invalid_event"]}),
        ({"expression": "event.timestamp", "event": {"timestamp": "2024-05-01T10:00:00Z"}}, {"event": ["invalid_event"]}),
        ({"expression": "round(event.properties.units, 0.5)", "event": EVENT}, {"event": ["invalid_event"]}),
    ],
)
def test_errors(api: httpx.Client, unchanged, body: dict[str, Any], details: dict[str, list[str]]) -> None:
    with unchanged():
        assert_422(api.post("billable_metrics/evaluate_expression", json=body), details)


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b"{}"])
def test_no_body_is_a_missing_expression(api: httpx.Client, raw: bytes) -> None:
    response = api.post("billable_metrics/evaluate_expression", content=raw, headers={"Content-Type": "application/json"})
    if raw == b"[]":
        assert_422(response, {"base": ["value_is_invalid"]})
    else:
        assert_422(response, {"expression": ["value_is_mandatory"]})


def test_invalid_json_is_400(api: httpx.Client) -> None:
    response = api.post(
        "billable_metrics/evaluate_expression", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("BadRequest")


def test_needs_an_api_key(anon: httpx.Client) -> None:
    response = anon.post("api/v1/billable_metrics/evaluate_expression", json={"expression": "1", "event": EVENT})
    assert (response.status_code, response.json()) == (401, {"status": 401, "error": "Unauthorized"})


def test_python_client_sends_no_body(lago) -> None:
    # lago-python-client's evaluate_expression forgets the body; the server answers as Lago does.
    request = BillableMetricEvaluateExpression(
        expression="1 + 1", event=BillableMetricEvaluateExpressionEvent(code="c", timestamp=1, properties={})
    )
    with pytest.raises(LagoApiError) as error:
        lago.billable_metrics.evaluate_expression(request)
    assert error.value.status_code == 422


def test_get_on_the_action_path_is_a_missing_metric(api: httpx.Client) -> None:
    response = api.get("billable_metrics/evaluate_expression")
    assert response.status_code == 404
    assert response.json()["code"] == "billable_metric_not_found"
