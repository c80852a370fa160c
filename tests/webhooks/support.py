"""A real HTTP receiver on 127.0.0.1 for webhook tests, and helpers to drive deliveries."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from billow.config import Settings
from billow.core import clock
from billow.core.db import Database
from billow.jobs.worker import run_pending
from billow.models import Job, Webhook, WebhookEndpoint


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    answered: int

    @property
    def key(self) -> str:
        return self.headers["x-lago-unique-key"]

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """Records every request. ``failures`` = how many first requests of each unique key answer
    500; ``hang`` (when set) holds a request until ``release`` is set; ``on_request`` runs first."""

    url: str = ""
    failures: int = 0
    requests: list[Received] = field(default_factory=list)
    hang: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_for(self, key: str) -> int:
        seen = sum(1 for request in self.requests if request.key == key)
        return 500 if seen < self.failures else 200

    def delivered(self) -> list[Received]:
        return [request for request in self.requests if request.answered == 200]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            headers = {key.lower(): value for key, value in self.headers.items()}
            receiver.arrived.set()
            if receiver.hang is not None:
                receiver.hang.wait(30)
            with receiver.lock:
                status = receiver.answer_for(headers.get("x-lago-unique-key", ""))
                receiver.requests.append(Received(headers, body, status))
            payload = b"ok" if status == 200 else b"boom " * 400
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the sender gave up (timeout, or killed)
                pass

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    if state.hang is not None:
        state.hang.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def forget_endpoints(database: Database, org: Any) -> Iterator[None]:
    """After each test, the organization's endpoints (and so its undelivered webhooks) go away, so
    that no later drain of the shared queue sends anything to a receiver that is gone."""
    yield
    with database.unit_of_work() as session:
        session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.organization_id == org.id))


def settings_for(database: Database, **overrides: Any) -> Settings:
    return Settings(database_url=database.url, **{"webhook_timeout_seconds": 5.0, **overrides})


def deliver(database: Database, settings: Settings | None = None, *, now: datetime | None = None) -> int:
    """Run the due webhook deliveries once."""
    return run_pending(database, settings or settings_for(database), now=now, names=["webhooks.deliver"])


def deliver_until(database: Database, done: Callable[[], bool], settings: Settings | None = None,
                  *, rounds: int = 40, step: timedelta = timedelta(hours=7)) -> int:
    """Deliver again and again, each round ``step`` later (past any backoff wait), until ``done``."""
    at = clock.now()
    for round_number in range(rounds):
        deliver(database, settings, now=at)
        if done():
            return round_number + 1
        at += step
    raise AssertionError("deliveries did not finish")


def add_endpoint(api: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    response = api.post("webhook_endpoints", json={"webhook_endpoint": {"webhook_url": url, **fields}})
    assert response.status_code == 200, response.text
    return response.json()["webhook_endpoint"]  # type: ignore[no-any-return]


def webhooks_of(database: Database, organization_id: Any) -> list[Webhook]:
    with database.unit_of_work(write=False) as session:
        stmt = select(Webhook).where(Webhook.organization_id == organization_id).order_by(Webhook.created_at)
        return list(session.scalars(stmt))


def job_of(database: Database, webhook: Webhook) -> Job:
    with database.unit_of_work(write=False) as session:
        job = session.get(Job, webhook.job_id)
        assert job is not None
        return job
