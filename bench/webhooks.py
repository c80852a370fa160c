"""Webhook delivery rate and latency to a local receiver.

For each database: ``billow serve`` on a fresh database, one webhook endpoint pointing at a small
threaded HTTP receiver on 127.0.0.1 (answers 200 at once), then two phases:

1. **backlog**: with the server's worker off (``BILLOW_WORKER_ENABLED=false``), ``--count``
   customers are created over HTTP (each records a ``customer.created`` webhook and its delivery
   job), then ``billow worker`` is started; webhooks/s = count / (last arrival - worker start).
2. **live**: a server with its worker on; one client creates customers at ``--live-rate`` a second;
   latency of each webhook = its arrival at the receiver - the moment the API answered (the commit).
   Prints p50/p99 and the rate at which the webhooks arrived.

Every webhook is checked to arrive once with its own ``X-Lago-Unique-Key``.

    .venv/bin/python bench/webhooks.py --db both --count 2000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, Server, machine, percentile, postgresql, sqlite_file  # noqa: E402


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}  # external_id -> monotonic arrival
        self.keys: list[str] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.expected = 0

    def reset(self, expected: int) -> None:
        with self.lock:
            self.arrivals.clear()
            self.keys.clear()
            self.expected = expected
            self.done.clear()

    def record(self, key: str, body: bytes) -> None:
        at = time.monotonic()
        external_id = json.loads(body)["customer"]["external_id"]
        with self.lock:
            self.keys.append(key)
            self.arrivals.setdefault(external_id, at)
            if len(self.arrivals) >= self.expected:
                self.done.set()


@contextmanager
def receiving() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.record(self.headers.get("X-Lago-Unique-Key", ""), body)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def create_customers(server: Server, prefix: str, count: int, rate: float = 0) -> dict[str, float]:
    """Create ``count`` customers one after the other (at most ``rate`` a second when given);
    returns external_id -> monotonic answer time."""
    answered = {}
    start = time.monotonic()
    with server.client() as api:
        for index in range(count):
            if rate:
                time.sleep(max(0.0, start + index / rate - time.monotonic()))
            external_id = f"{prefix}-{index}"
            response = api.post("customers", json={"customer": {"external_id": external_id}})
            if response.status_code != 200:
                raise RuntimeError(response.text)
            answered[external_id] = time.monotonic()
    return answered


def add_endpoint(server: Server, url: str, algo: str) -> None:
    with server.client() as api:
        response = api.post("webhook_endpoints", json={"webhook_endpoint": {"webhook_url": url, "signature_algo": algo}})
        if response.status_code != 200:
            raise RuntimeError(response.text)


def check_once(receiver: Receiver, count: int) -> str:
    unique = len(set(receiver.keys))
    return f"{len(receiver.keys)} requests, {unique} unique keys, {len(receiver.arrivals)}/{count} webhooks"


def backlog(url: str, receiver: Receiver, endpoint: str, args: argparse.Namespace) -> None:
    receiver.reset(args.count)
    with environment(BILLOW_WORKER_ENABLED="false"), Server(url) as server:
        add_endpoint(server, endpoint, args.algo)
        create_customers(server, "backlog", args.count)
        env = {**os.environ, "BILLOW_DATABASE_URL": url, "BILLOW_LOG_LEVEL": "warning"}
        threads = 1 if url.startswith("sqlite") else args.threads
        started = time.monotonic()
        worker = subprocess.Popen([PYTHON, "-m", "billow.cli", "worker", "--threads", str(threads)], env=env,
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            finished = receiver.done.wait(args.timeout)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)  # the group of the process started above
            worker.wait(60)
        if not finished:
            raise RuntimeError(f"backlog not delivered in time: {check_once(receiver, args.count)}")
        first, last = min(receiver.arrivals.values()), max(receiver.arrivals.values())
        print(f"  backlog: {args.count} webhooks in {last - started:.2f} s from the worker's start = "
              f"{args.count / (last - started):.0f} webhooks/s ({args.count / (last - first):.0f}/s from the first "
              f"arrival) with {threads} worker thread(s); {check_once(receiver, args.count)}")


def live(url: str, receiver: Receiver, endpoint: str, args: argparse.Namespace) -> None:
    receiver.reset(args.live_count)
    with Server(url) as server:
        add_endpoint(server, endpoint, args.algo)
        start = time.monotonic()
        answered = create_customers(server, "live", args.live_count, args.live_rate)
        if not receiver.done.wait(args.timeout):
            raise RuntimeError(f"live webhooks not delivered in time: {check_once(receiver, args.live_count)}")
        latencies = [(receiver.arrivals[key] - at) * 1000 for key, at in answered.items()]
        span = max(receiver.arrivals.values()) - start
        print(f"  live: {args.live_count} customers created at {args.live_rate:g}/s by one client, "
              f"{args.live_count / span:.0f} webhooks/s arrived; latency commit -> receiver p50 {percentile(latencies, 50):.0f} ms, "
              f"p99 {percentile(latencies, 99):.0f} ms; {check_once(receiver, args.live_count)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--count", type=int, default=2000, help="webhooks in the backlog phase")
    parser.add_argument("--live-count", type=int, default=500, help="webhooks in the live phase")
    parser.add_argument("--live-rate", type=float, default=50, help="customers created a second in the live phase")
    parser.add_argument("--threads", type=int, default=4, help="worker threads on PostgreSQL")
    parser.add_argument("--algo", choices=("jwt", "hmac"), default="jwt")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    print(f"machine: {machine()}; signature: {args.algo}")
    if args.db in ("sqlite", "both"):
        with sqlite_file("backlog.db") as backlog_url, sqlite_file("live.db") as live_url:
            print("sqlite:")
            with receiving() as (receiver, endpoint):
                backlog(backlog_url, receiver, endpoint, args)
            with receiving() as (receiver, endpoint):
                live(live_url, receiver, endpoint, args)
    if args.db in ("postgres", "both"):
        with postgresql() as pg:
            print("postgresql:")
            with receiving() as (receiver, endpoint):
                backlog(pg.create_database("billow_bench_backlog"), receiver, endpoint, args)
            with receiving() as (receiver, endpoint):
                live(pg.create_database("billow_bench_live"), receiver, endpoint, args)


if __name__ == "__main__":
    main()
