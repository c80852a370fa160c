"""POST /events and /events/batch: Lago's wire format, exactly-once storage, all-or-nothing batches."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from billow.core import jsontext


def event(tx: str = "tx-1", sub: str = "sub-1", code: str = "calls", **extra: Any) -> dict[str, Any]:
    return {"transaction_id": tx, "external_subscription_id": sub, "code": code, **extra}


def post(api: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return api.post("events", json={"event": body})


def test_an_event_is_stored_and_echoed(api: httpx.Client) -> None:
    response = post(api, event(timestamp=1651240791.123, properties={"gb": "12.5", "n": 3}))
    assert response.status_code == 200, response.text
    body = response.json()["event"]
    assert body["transaction_id"] == "tx-1"
    assert body["external_subscription_id"] == "sub-1"
    assert body["timestamp"] == "2022-04-29T13:59:51.123Z"
    assert body["properties"] == {"gb": "12.5", "n": 3}
    assert body["lago_id"]
    fetched = api.get("events/tx-1").json()["event"]
    assert fetched == body


def test_decimal_properties_keep_their_digits(api: httpx.Client) -> None:
    raw = '{"event": {"transaction_id": "d1", "external_subscription_id": "s", "code": "c", ' \
          '"properties": {"v": 12345678901234567890.123456789}}}'
    response = api.post("events", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    fetched = jsontext.loads(api.get("events/d1").content)
    assert fetched["event"]["properties"]["v"] == Decimal("12345678901234567890.123456789")


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1700000000, "2023-11-14T22:13:20.000Z"),
        ("1700000000.5", "2023-11-14T22:13:20.500Z"),
        ("1700000000", "2023-11-14T22:13:20.000Z"),
    ],
)
def test_timestamps_as_lago_takes_them(api: httpx.Client, timestamp: Any, expected: str) -> None:
    body = post(api, event(tx=f"t-{timestamp}", timestamp=timestamp)).json()["event"]
    assert body["timestamp"] == expected


def test_explicit_nulls_mean_not_given(api: httpx.Client) -> None:
    response = post(api, event(timestamp=None, properties=None, precise_total_amount_cents=None))
    assert response.status_code == 200, response.text
    assert response.json()["event"]["properties"] == {}


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (event(timestamp="2024-01-01T00:00:00Z"), {"timestamp": ["invalid_format"]}),
        (event(tx=None), {"transaction_id": ["value_is_mandatory"]}),
        (event(code=""), {"code": ["value_is_mandatory"]}),
        (event(properties=[1, 2]), {"properties": ["value_is_invalid"]}),
        (event(precise_total_amount_cents="abc"), {"precise_total_amount_cents": ["value_is_invalid"]}),
    ],
)
def test_bad_events_are_refused_and_change_nothing(api: httpx.Client, unchanged: Any, body: dict[str, Any],
                                                   details: dict[str, list[str]]) -> None:
    with unchanged():
        response = post(api, body)
    assert response.status_code == 422
    assert response.json()["error_details"] == details


def test_missing_root_is_a_bad_request(api: httpx.Client) -> None:
    assert api.post("events", json={"nothing": {}}).status_code == 400
    assert api.post("events/batch", json={}).status_code == 400


def test_a_retry_with_the_same_content_is_acknowledged_once(api: httpx.Client) -> None:
    first = post(api, event(timestamp=1700000000, properties={"v": 1}))
    again = post(api, event(timestamp=1700000000, properties={"v": 1}))
    assert again.status_code == 200
    assert again.json()["event"]["lago_id"] == first.json()["event"]["lago_id"]
    listed = api.get("events", params={"external_subscription_id": "sub-1"}).json()
    assert listed["meta"]["total_count"] == 1


def test_a_retry_without_timestamp_is_still_the_same_event(api: httpx.Client) -> None:
    first = post(api, event(properties={"v": 1}))
    again = post(api, event(properties={"v": 1}))
    assert again.json()["event"]["lago_id"] == first.json()["event"]["lago_id"]


def test_same_transaction_with_other_content_is_refused(api: httpx.Client) -> None:
    post(api, event(properties={"v": 1}))
    response = post(api, event(properties={"v": 2}))
    assert response.status_code == 422
    assert response.json()["error_details"] == {"transaction_id": ["value_already_exist"]}


def test_same_transaction_under_another_subscription_is_another_event(api: httpx.Client) -> None:
    assert post(api, event(sub="a")).status_code == 200
    assert post(api, event(sub="b")).status_code == 200
    assert api.get("events").json()["meta"]["total_count"] == 2


def test_a_batch_is_all_or_nothing_with_errors_by_index(api: httpx.Client, unchanged: Any) -> None:
    post(api, event(tx="stored", properties={"v": 1}))
    batch = [event(tx="new-1"), event(tx="stored", properties={"v": 9}), event(tx="new-2", timestamp="bad")]
    with unchanged():
        response = api.post("events/batch", json={"events": batch})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"2": {"timestamp": ["invalid_format"]}}
    with unchanged():
        response = api.post("events/batch", json={"events": batch[:2]})
    assert response.json()["error_details"] == {"1": {"transaction_id": ["value_already_exist"]}}


def test_a_batch_stores_each_event_once(api: httpx.Client) -> None:
    batch = [event(tx=f"b{i}", properties={"v": i}) for i in range(100)]
    batch.append(event(tx="b0", properties={"v": 0}))  # an exact duplicate inside the batch
    assert api.post("events/batch", json={"events": batch}).status_code == 422  # 101 events
    response = api.post("events/batch", json={"events": batch[:99] + [batch[100]]})
    assert response.status_code == 200, response.text
    assert len(response.json()["events"]) == 100
    assert api.get("events", params={"per_page": 1}).json()["meta"]["total_count"] == 99


@pytest.mark.parametrize(("events", "code"), [([], "no_events"), ("x", "value_is_invalid")])
def test_batch_shape_errors(api: httpx.Client, events: Any, code: str) -> None:
    response = api.post("events/batch", json={"events": events})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"events": [code]}


def test_the_official_client_sends_events(lago: Any) -> None:
    from lago_python_client.models import BatchEvent, Event

    lago.events.create(Event(transaction_id="c1", external_subscription_id="s", code="calls", properties={"a": 1}))
    lago.events.batch_create(BatchEvent(events=[
        Event(transaction_id="c2", external_subscription_id="s", code="calls", timestamp=1700000000),
    ]))
    found = lago.events.find("c2")
    assert found.transaction_id == "c2"
    assert found.timestamp is not None


def test_unknown_event_is_404(api: httpx.Client) -> None:
    response = api.get("events/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "event_not_found"


def test_events_are_scoped_to_the_organization(api: httpx.Client, server: Any, database: Any) -> None:
    from tests.conftest import make_org

    post(api, event(tx="private"))
    other = make_org(database, "Other")
    with httpx.Client(base_url=f"{server.url}/api/v1/", headers={"Authorization": f"Bearer {other.api_key}"}) as c:
        assert c.get("events/private").status_code == 404
        assert c.get("events").json()["meta"]["total_count"] == 0


@pytest.mark.parametrize("amount", [None, Decimal("12.3400")])
def test_the_ingest_answer_is_the_event_as_the_api_shows_it(amount: Decimal | None) -> None:
    """``events_json`` (written directly, for batch answers) says exactly what ``event_out`` says."""
    import uuid
    from datetime import UTC, datetime

    from billow.events.schemas import event_out, events_json
    from billow.events.service import StoredEvent

    row = StoredEvent(uuid.uuid4(), 'tx "1" é\u2028', "sub\\1", "code/\n", datetime(2024, 2, 29, 23, 59, 59, 999999, UTC),
                      {"gb": Decimal("1E-7"), "nested": {"a": [1, None, True, "ü"]}}, amount,
                      datetime(999, 1, 2, 3, 4, 5, 678000, UTC))
    text = events_json([row, row])
    assert jsontext.loads(text[0]) == jsontext.loads(text[1]) == jsontext.loads(jsontext.dumps(event_out(row)))
    assert jsontext.loads(text[0])["created_at"] == "0999-01-02T03:04:05Z"


def test_ingest_errors_have_lagos_envelope_on_the_direct_path(api: httpx.Client) -> None:
    response = api.post("events", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert response.headers["content-type"] == "application/json"
    unauthorized = httpx.post(str(api.base_url) + "events", json={"event": event()},
                              headers={"Authorization": "Bearer nope"})
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"status": 401, "error": "Unauthorized"}


@pytest.mark.parametrize("value", [
    {}, {"a": 1, "b": [True, False, None, "é\u2028\"\\"], "c": {"d": -5}},
    {"gb": Decimal("12.500"), "nested": [Decimal("1E+3"), {"x": Decimal("-0.0000001")}]},
])
def test_parsed_json_is_written_back_exactly(value: Any) -> None:
    """The fast path writes the JSON the exact writer writes (non-ASCII text as UTF-8 rather than
    escaped); decimals keep their digits."""
    fast = jsontext.dumps_parsed(value)
    assert jsontext.loads(fast) == value
    assert json.loads(fast) == json.loads(jsontext.dumps(value))
    if "gb" in value:
        assert fast == '{"gb":12.500,"nested":[1E+3,{"x":-1E-7}]}'
