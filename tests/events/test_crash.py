"""Crash test (issue 4, item 8): SIGKILL `billow serve` under ingest load, restart it, and check
that every acknowledged event is stored exactly once and that usage equals a recount from the raw
events, before and after `billow usage rebuild`.

The kill moments come from a seeded random (``BILLOW_CRASH_SEED`` replays one); the seed is
printed, so a failing run shows it with its captured output.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from billow.core.db import Database
from tests.conftest import fresh_database

BILLOW = [sys.executable, "-m", "billow.cli"]
API_KEY = "crash-test-key"
HEADERS = {"Authorization": f"Bearer {API_KEY}"}
KILLS = 3
CLIENTS = 4
MAX_REQUESTS_PER_CLIENT = 400  # a bound; clients normally stop earlier, when told to
DEADLINE_SECONDS = 120  # the whole ingest phase, kills and restarts included: a liveness bound, generous for loaded machines


# ---- a database of its own, and the server process on it ---------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`billow serve` as a child process; every start listens on a new port (the old one may
    linger in TIME_WAIT), so a client that still uses the old URL fails and retries."""

    def __init__(self, database_url: str, log: Path):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BILLOW_")}
        self.env.update(BILLOW_DATABASE_URL=database_url, BILLOW_ORG_API_KEY=API_KEY, BILLOW_LOG_LEVEL="warning")
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.current = (0, "")  # (how many times it was started, its URL), replaced as one
        self.healthy_at: list[datetime] = []  # wall-clock instant each server life became healthy

    def start(self) -> None:
        port = _free_port()
        with self.log.open("ab") as out:
            out.write(f"--- start {self.current[0] + 1} on port {port}\n".encode())
            out.flush()
            self.proc = subprocess.Popen([*BILLOW, "serve", "--host", "127.0.0.1", "--port", str(port)],
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"billow serve exited:\n{self.tail()}"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"billow serve did not become healthy:\n{self.tail()}"
            time.sleep(0.05)
        self.healthy_at.append(datetime.now(UTC))
        self.current = (self.current[0] + 1, url)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no rollback runs in the server."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


# ---- load ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Acked:
    lago_id: str
    timestamp: int
    value: Decimal


@dataclass
class Ledger:
    """What the clients were told: acknowledged transaction ids with their lago_id and value."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, Acked] = field(default_factory=dict)
    requests: int = 0
    failures_by_epoch: dict[int, int] = field(default_factory=dict)  # connection errors, then retried
    # Requests the killed server had committed without answering, acknowledged by their retry
    # (a lower bound: only those stored, to the second, before the next server life began).
    committed_unanswered: int = 0
    errors: list[str] = field(default_factory=list)  # any answer other than 200


def _value(rng: random.Random) -> Any:
    if rng.random() < 0.5:
        return rng.randint(0, 1000)
    return f"{rng.randint(0, 999)}.{rng.randint(0, 999):03d}"  # decimals travel as strings, exactly


class Client(threading.Thread):
    def __init__(self, index: int, seed: int, server: Server, ledger: Ledger, stop: threading.Event,
                 deadline: float, first_ts: int):
        super().__init__(name=f"crash-client-{index}", daemon=True)
        self.index, self.server, self.ledger, self.stop, self.deadline = index, server, ledger, stop, deadline
        self.rng = random.Random(seed * 100 + index)
        self.first_ts = first_ts

    def run(self) -> None:
        try:
            with httpx.Client(headers=HEADERS, timeout=10) as http:
                for number in range(MAX_REQUESTS_PER_CLIENT):
                    if self.stop.is_set():
                        return
                    self._send(http, number)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            with self.ledger.lock:
                self.ledger.errors.append(f"{self.name}: {exc!r}")

    def _event(self, tx: str) -> dict[str, Any]:
        now = int(time.time())  # late events too: they update older hour buckets
        return {"transaction_id": tx, "external_subscription_id": "sub", "code": "gb",
                "timestamp": self.rng.randint(min(self.first_ts, now), now), "properties": {"v": _value(self.rng)}}

    def _send(self, http: httpx.Client, number: int) -> None:
        prefix = f"c{self.index}-r{number}"
        if self.rng.random() < 0.25:
            path, body = "events", {"event": self._event(f"{prefix}-0")}
            events = [body["event"]]
        else:
            events = [self._event(f"{prefix}-{i}") for i in range(self.rng.randint(1, 100))]
            path, body = "events/batch", {"events": events}
        content = httpx.Request("POST", "http://x", json=body).content  # the exact bytes of every retry
        stored = self._deliver(http, prefix, path, content, events)
        if stored is None:
            return
        with self.ledger.lock:
            for sent, echoed in zip(events, stored, strict=True):
                self.ledger.acked[sent["transaction_id"]] = Acked(echoed["lago_id"], sent["timestamp"],
                                                                  Decimal(str(sent["properties"]["v"])))
        if self.rng.random() < 0.1:  # a client unsure it got through sends the same request again
            again = self._deliver(http, prefix, path, content, events, resend=True)
            if again is not None and [e["lago_id"] for e in again] != [e["lago_id"] for e in stored]:
                with self.ledger.lock:
                    self.ledger.errors.append(f"{prefix}: a resend was answered with other lago_ids")

    def _deliver(self, http: httpx.Client, prefix: str, path: str, content: bytes,
                 events: list[dict[str, Any]], *, resend: bool = False) -> list[dict[str, Any]] | None:
        """POST until a server answers (the same bytes each time); the events it acknowledged."""
        sent_to_dead: int | None = None  # the server life that got this request and died
        while True:
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"{prefix} was never acknowledged")
            epoch, url = self.server.current
            try:
                response = http.post(f"{url}/api/v1/{path}", content=content,
                                     headers={"Content-Type": "application/json"})
            except httpx.TransportError as exc:
                with self.ledger.lock:
                    self.ledger.failures_by_epoch[epoch] = self.ledger.failures_by_epoch.get(epoch, 0) + 1
                if not isinstance(exc, httpx.ConnectError) and sent_to_dead is None:
                    sent_to_dead = epoch
                time.sleep(0.02)
                continue
            break
        with self.ledger.lock:
            self.ledger.requests += 1
            if response.status_code != 200:
                self.ledger.errors.append(f"{prefix}: {response.status_code} {response.text[:300]}")
                return None
        answered = response.json()
        stored: list[dict[str, Any]] = answered["events"] if path == "events/batch" else [answered["event"]]
        if [e["transaction_id"] for e in stored] != [e["transaction_id"] for e in events]:
            with self.ledger.lock:
                self.ledger.errors.append(f"{prefix}: the answer lists other events")
            return None
        if sent_to_dead is not None and not resend:  # created_at has whole seconds; the next life answered this
            next_life = self.server.healthy_at[sent_to_dead].replace(microsecond=0)
            if _at(stored[0]["created_at"]) < next_life:
                with self.ledger.lock:
                    self.ledger.committed_unanswered += 1
        return stored


# ---- the test -----------------------------------------------------------------------------------


def _setup(url: str, subscription_at: datetime) -> None:
    with httpx.Client(base_url=f"{url}/api/v1/", headers=HEADERS, timeout=30) as api:
        metric = api.post("billable_metrics", json={"billable_metric": {
            "name": "GB", "code": "gb", "aggregation_type": "sum_agg", "field_name": "v"}})
        assert metric.status_code == 200, metric.text
        plan = api.post("plans", json={"plan": {
            "name": "P", "code": "p", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
            "pay_in_advance": False,
            "charges": [{"billable_metric_id": metric.json()["billable_metric"]["lago_id"],
                         "charge_model": "standard", "properties": {"amount": "0.01"}}]}})
        assert plan.status_code == 200, plan.text
        customer = api.post("customers", json={"customer": {"external_id": "cus", "currency": "EUR"}})
        assert customer.status_code == 200, customer.text
        sub = api.post("subscriptions", json={"subscription": {
            "external_customer_id": "cus", "plan_code": "p", "external_id": "sub",
            "subscription_at": subscription_at.strftime("%Y-%m-%dT%H:%M:%SZ")}})
        assert sub.status_code == 200, sub.text


def _all_events(api: httpx.Client) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in range(1, 1000):
        response = api.get("events", params={"page": page, "per_page": 2000})
        assert response.status_code == 200, response.text
        events += response.json()["events"]
        if response.json()["meta"]["next_page"] is None:
            return events
    raise AssertionError("too many pages of events")


def _usage(api: httpx.Client) -> dict[str, Any]:
    response = api.get("customers/cus/current_usage", params={"external_subscription_id": "sub"})
    assert response.status_code == 200, response.text
    return response.json()["customer_usage"]


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def test_sigkill_under_load_loses_and_duplicates_nothing(database: Database) -> None:
    seed = int(os.environ.get("BILLOW_CRASH_SEED") or random.randrange(2**32))
    print(f"crash test seed: {seed} (replay with BILLOW_CRASH_SEED={seed})")
    rng = random.Random(seed)
    with fresh_database(database, "billow_crash") as url:
        server = Server(url, Path(tempfile.mkdtemp(prefix="billow-crash-log-")) / "serve.log")
        stop = threading.Event()
        clients: list[Client] = []
        try:
            server.start()
            started = datetime.now(UTC).replace(microsecond=0)
            _setup(server.current[1], started - timedelta(hours=1))

            ledger = Ledger()
            deadline = time.monotonic() + DEADLINE_SECONDS
            first_ts = int((started - timedelta(minutes=30)).timestamp())
            clients = [Client(i, seed, server, ledger, stop, deadline, first_ts) for i in range(CLIENTS)]
            for client in clients:
                client.start()

            def wait_for_acks(more: int) -> None:
                """Until ``more`` further requests were acknowledged: the server is under load."""
                with ledger.lock:
                    goal = ledger.requests + more
                while True:
                    with ledger.lock:
                        if ledger.requests >= goal or ledger.errors:
                            return
                    assert time.monotonic() < deadline, f"no progress (seed {seed})"
                    time.sleep(0.01)

            kill_delays = [rng.uniform(0.05, 1.0) for _ in range(KILLS)]
            for delay in kill_delays:
                wait_for_acks(CLIENTS)
                time.sleep(delay)
                server.kill()
                server.start()  # on the same database
            wait_for_acks(2 * CLIENTS)
            stop.set()
            for client in clients:
                client.join(timeout=max(1.0, deadline - time.monotonic() + 5))
            assert not any(client.is_alive() for client in clients), f"a client hung (seed {seed})"

            print(f"kill delays {[round(d, 3) for d in kill_delays]}; {ledger.requests} requests acknowledged, "
                  f"{len(ledger.acked)} events; failed attempts by server start {ledger.failures_by_epoch}, "
                  f"{ledger.committed_unanswered} committed by a killed server and acknowledged by their retry")
            assert ledger.errors == [], f"seed {seed}: {ledger.errors[:5]}"
            # Every kill hit clients at work: each server life but the last ended with failed requests.
            assert all(ledger.failures_by_epoch.get(epoch, 0) > 0 for epoch in range(1, KILLS + 1)), (
                f"seed {seed}: {ledger.failures_by_epoch}")

            with httpx.Client(base_url=f"{server.current[1]}/api/v1/", headers=HEADERS, timeout=60) as api:
                # Every acknowledged event is stored, exactly once, as acknowledged.
                total = api.get("events", params={"per_page": 1}).json()["meta"]["total_count"]
                assert total == len(ledger.acked), f"seed {seed}: stored {total}, acknowledged {len(ledger.acked)}"
                stored = _all_events(api)
                by_tx = {e["transaction_id"]: e for e in stored}
                assert len(by_tx) == len(stored) == total, f"seed {seed}: duplicate transaction ids stored"
                assert by_tx.keys() == ledger.acked.keys(), f"seed {seed}"
                for tx, acked in ledger.acked.items():
                    assert by_tx[tx]["lago_id"] == acked.lago_id, f"seed {seed}: {tx} stored under another lago_id"
                    assert Decimal(str(by_tx[tx]["properties"]["v"])) == acked.value, f"seed {seed}: {tx}"
                for tx in random.Random(seed).sample(sorted(ledger.acked), 40):
                    found = api.get(f"events/{tx}")
                    assert found.status_code == 200, f"seed {seed}: {tx}: {found.text}"
                    assert found.json()["event"]["lago_id"] == ledger.acked[tx].lago_id

                # Current usage equals a recount of the raw events of its period.
                usage = _usage(api)
                start, end = _at(usage["from_datetime"]), _at(usage["to_datetime"]) + timedelta(seconds=1)
                recount = sum((Decimal(str(e["properties"]["v"])) for e in stored
                               if start <= _at(e["timestamp"]) < end), Decimal(0))
                assert Decimal(usage["charges_usage"][0]["units"]) == recount, f"seed {seed}"
                acknowledged = sum((a.value for a in ledger.acked.values()
                                    if start <= datetime.fromtimestamp(a.timestamp, UTC) < end), Decimal(0))
                assert recount == acknowledged > 0, f"seed {seed}"

                # A rebuild from the raw events gives the same usage.
                rebuilt = subprocess.run([*BILLOW, "usage", "rebuild"], env=server.env, capture_output=True,
                                         text=True, timeout=120, check=False)
                assert rebuilt.returncode == 0, rebuilt.stderr
                assert f"/gb: rebuilt from {total} events" in rebuilt.stdout, rebuilt.stdout
                assert _usage(api) == usage, f"seed {seed}: usage changed after a rebuild"
        except BaseException:
            print(f"crash test seed: {seed}\nserver log:\n{server.tail()}")
            raise
        finally:
            stop.set()
            server.stop()
            for client in clients:
                client.join(timeout=15)
