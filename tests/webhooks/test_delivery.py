"""Delivery to a real receiver on 127.0.0.1: signatures checked with PyJWT and hmac, retries with
one logical delivery per (webhook, endpoint), attempts kept, failure, and resending by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import jwt
import pytest

from billow.cli import main as cli_main
from billow.config import Settings
from billow.core.db import Database
from tests.customers.support import create_customer
from tests.webhooks.support import (
    Receiver,
    add_endpoint,
    deliver,
    deliver_until,
    job_of,
    settings_for,
    webhooks_of,
)


def test_jwt_signature_verifies_with_the_public_key_from_the_api(
    api: httpx.Client, lago: Any, org: Any, database: Database, receiver: Receiver
) -> None:
    add_endpoint(api, receiver.url)
    customer = create_customer(api, "cus-jwt", name="Ada")
    assert deliver(database) >= 1

    [request] = receiver.requests
    assert request.headers["x-lago-signature-algorithm"] == "jwt"
    assert request.headers["content-type"] == "application/json"
    claims = jwt.decode(request.headers["x-lago-signature"], lago.webhooks.public_key(), algorithms=["RS256"],
                        issuer=Settings().api_url)
    assert claims["data"] == request.body
    assert request.json == {"webhook_type": "customer.created", "object_type": "customer",
                            "organization_id": str(org.id), "customer": customer}
    [webhook] = api.get("webhooks").json()["webhooks"]
    assert request.key == webhook["lago_id"]
    assert (webhook["status"], webhook["http_status"], webhook["webhook_type"]) == ("succeeded", 200, "customer.created")


def test_tampered_body_fails_jwt_verification(api: httpx.Client, lago: Any, database: Database,
                                              receiver: Receiver) -> None:
    add_endpoint(api, receiver.url)
    create_customer(api, "cus-tamper")
    deliver(database)
    [request] = receiver.requests
    claims = jwt.decode(request.headers["x-lago-signature"], lago.webhooks.public_key(), algorithms=["RS256"],
                        options={"verify_iss": False})
    assert claims["data"] == request.body
    with pytest.raises(jwt.InvalidSignatureError):
        header, payload, signature = request.headers["x-lago-signature"].split(".")
        forged = base64.urlsafe_b64encode(json.dumps({"data": "{}", "iss": claims["iss"]}).encode()).rstrip(b"=")
        jwt.decode(f"{header}.{forged.decode()}.{signature}", lago.webhooks.public_key(), algorithms=["RS256"],
                   options={"verify_iss": False})


def test_hmac_signature_verifies_with_the_key_billow_org_show_prints(
    api: httpx.Client, org: Any, database: Database, receiver: Receiver, monkeypatch: Any, capsys: Any
) -> None:
    add_endpoint(api, receiver.url, signature_algo="hmac")
    create_customer(api, "cus-hmac")
    deliver(database)

    monkeypatch.setenv("BILLOW_DATABASE_URL", database.url)
    assert cli_main(["org", "show", str(org.id)]) == 0
    shown = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
    assert shown["id"].strip() == str(org.id)
    key = shown["hmac_key"].strip()

    [request] = receiver.requests
    assert request.headers["x-lago-signature-algorithm"] == "hmac"
    expected = base64.b64encode(hmac.new(key.encode(), request.body.encode(), hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(request.headers["x-lago-signature"], expected)
    wrong = base64.b64encode(hmac.new(b"other", request.body.encode(), hashlib.sha256).digest()).decode()
    assert request.headers["x-lago-signature"] != wrong


def test_receiver_failing_then_recovering_gets_each_webhook_once_per_endpoint(
    api: httpx.Client, database: Database, receiver: Receiver, org: Any
) -> None:
    receiver.failures = 3
    first = add_endpoint(api, receiver.url)
    second = add_endpoint(api, receiver.url + "/second", signature_algo="hmac")
    for index in range(3):
        create_customer(api, f"cus-retry-{index}")
    create_customer(api, "cus-retry-0", name="renamed")  # customer.updated
    webhooks = webhooks_of(database, org.id)
    assert len(webhooks) == 8  # 4 webhooks x 2 endpoints

    rounds = deliver_until(database, lambda: len(receiver.delivered()) == 8)
    assert rounds == 4  # 3 failures each, then success

    keys = {str(webhook.id) for webhook in webhooks}
    delivered = receiver.delivered()
    assert sorted(request.key for request in delivered) == sorted(keys)  # one logical delivery each
    for key in keys:
        tries = [request for request in receiver.requests if request.key == key]
        assert [request.answered for request in tries] == [500, 500, 500, 200]
        assert len({request.body for request in tries}) == 1  # identical bytes on every retry
    endpoints_hit = {request.json["customer"]["external_id"] for request in delivered}
    assert endpoints_hit == {"cus-retry-0", "cus-retry-1", "cus-retry-2"}
    assert sorted(request.json["webhook_type"] for request in delivered) == sorted(
        ["customer.created"] * 6 + ["customer.updated"] * 2)
    assert {w["lago_webhook_endpoint_id"] for w in api.get("webhooks").json()["webhooks"]} == {
        first["lago_id"], second["lago_id"]}

    webhook_id = str(webhooks[0].id)
    attempts = api.get(f"webhooks/{webhook_id}/attempts").json()
    assert [attempt["http_status"] for attempt in attempts["webhook_attempts"]] == [500, 500, 500, 200]
    assert [attempt["number"] for attempt in attempts["webhook_attempts"]] == [1, 2, 3, 4]
    assert attempts["webhook_attempts"][0]["response_excerpt"] == ("boom " * 400)[:1024]
    assert attempts["webhook_attempts"][-1]["response_excerpt"] == "ok"
    assert all(attempt["duration_ms"] >= 0 for attempt in attempts["webhook_attempts"])
    one = api.get(f"webhooks/{webhook_id}").json()["webhook"]
    assert (one["status"], one["retries"], one["http_status"]) == ("succeeded", 3, 200)
    assert one["last_retried_at"] is not None
    assert api.get("webhooks", params={"status": "succeeded"}).json()["meta"]["total_count"] == 8
    assert job_of(database, webhooks[0]).state == "done"


def test_timeouts_are_attempts_and_retried(api: httpx.Client, database: Database, receiver: Receiver) -> None:
    import threading

    receiver.hang = threading.Event()  # never set during the first attempt
    add_endpoint(api, receiver.url)
    create_customer(api, "cus-slow")
    deliver(database, settings_for(database, webhook_timeout_seconds=0.5))
    [webhook] = api.get("webhooks").json()["webhooks"]
    assert webhook["status"] == "retrying"
    [attempt] = api.get(f"webhooks/{webhook['lago_id']}/attempts").json()["webhook_attempts"]
    assert attempt["http_status"] is None
    assert "Timeout" in attempt["error"]
    receiver.hang.set()
    receiver.hang = None
    deliver_until(database, lambda: api.get(f"webhooks/{webhook['lago_id']}").json()["webhook"]["status"]
                  == "succeeded")


def test_failed_after_the_last_attempt_then_resent_by_hand(
    api: httpx.Client, database: Database, receiver: Receiver, org: Any, monkeypatch: Any, capsys: Any
) -> None:
    receiver.failures = 3
    settings = settings_for(database, webhook_max_attempts=3)
    add_endpoint(api, receiver.url)
    create_customer(api, "cus-dead")
    deliver_until(database, lambda: api.get("webhooks", params={"status": "failed"}).json()["webhooks"] != [],
                  settings)
    [webhook] = api.get("webhooks", params={"status": "failed"}).json()["webhooks"]
    assert (webhook["retries"], webhook["http_status"]) == (2, 500)
    [stored] = [w for w in webhooks_of(database, org.id) if str(w.id) == webhook["lago_id"]]
    job = job_of(database, stored)
    assert (job.state, job.attempts) == ("dead", 3)
    assert "HTTP 500" in (job.last_error or "")

    monkeypatch.setenv("BILLOW_DATABASE_URL", database.url)
    assert cli_main(["webhooks", "list", "--status", "failed", "--org", str(org.id)]) == 0
    assert webhook["lago_id"] in capsys.readouterr().out
    assert cli_main(["webhooks", "attempts", webhook["lago_id"]]) == 0
    assert capsys.readouterr().out.count("http=500") == 3
    assert cli_main(["jobs", "list", "--state", "dead", "--name", "webhooks.deliver"]) == 0
    assert f"{job.id}  webhooks.deliver  dead  attempts=3" in capsys.readouterr().out

    retried = api.post(f"webhooks/{webhook['lago_id']}/retry").json()["webhook"]
    assert retried["status"] == "pending"
    again = api.post(f"webhooks/{webhook['lago_id']}/retry")
    assert again.status_code == 405
    assert again.json()["code"] == "webhook_not_failed"
    deliver_until(database, lambda: len(receiver.delivered()) == 1, settings)
    assert receiver.delivered()[0].key == webhook["lago_id"]  # the same unique key as before
    assert api.get(f"webhooks/{webhook['lago_id']}").json()["webhook"]["status"] == "succeeded"
    assert len(api.get(f"webhooks/{webhook['lago_id']}/attempts").json()["webhook_attempts"]) == 4


def test_event_types_filter_and_no_endpoint_no_webhook(api: httpx.Client, database: Database, org: Any,
                                                       receiver: Receiver) -> None:
    create_customer(api, "cus-before")  # no endpoint yet: nothing recorded
    assert webhooks_of(database, org.id) == []
    add_endpoint(api, receiver.url, event_types=["customer.updated"])
    create_customer(api, "cus-filtered")
    create_customer(api, "cus-filtered", name="changed")
    deliver(database)
    assert [request.json["webhook_type"] for request in receiver.requests] == ["customer.updated"]
    assert receiver.requests[0].json["customer"]["name"] == "changed"


def test_unknown_webhook_and_bad_status_filter(api: httpx.Client) -> None:
    assert api.get("webhooks/00000000-0000-0000-0000-000000000000").json()["code"] == "webhook_not_found"
    assert api.post("webhooks/nope/retry").status_code == 404
    bad = api.get("webhooks", params={"status": "lost"})
    assert bad.status_code == 422
    assert bad.json()["error_details"] == {"status": ["value_is_invalid"]}


def test_a_webhook_whose_change_rolls_back_is_never_sent(api: httpx.Client, database: Database, org: Any,
                                                         receiver: Receiver) -> None:
    from sqlalchemy import func, select

    from billow.models import Job
    from billow.webhooks import service

    add_endpoint(api, receiver.url)
    with database.unit_of_work(write=False) as session:
        jobs_before = session.scalar(select(func.count()).select_from(Job))
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        [webhook] = service.emit(session, org.id, "customer.updated", "customer", {"external_id": "x"})
        assert webhook.job_id is not None
        raise RuntimeError("the change fails after the webhook was recorded")
    assert webhooks_of(database, org.id) == []
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == jobs_before
    deliver(database)
    assert receiver.requests == []
