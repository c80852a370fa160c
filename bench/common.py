"""Shared helpers of the benchmarks: throwaway databases, a server subprocess, HTTP setup, percentiles.

Everything listens on 127.0.0.1 only. Every process started here is stopped here, by its own id.
"""

from __future__ import annotations

import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
API_KEY = "blw_bench_key_0123456789abcdefghijklmnopqrstuvwxyz"


# ---- numbers -------------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of ``values``: an observed value, never interpolated."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load average ?"
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {load}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def now() -> datetime:
    return datetime.now(UTC)


# ---- databases -----------------------------------------------------------------------------------


@dataclass
class PostgreSQL:
    """A throwaway cluster started by ``scripts/pg`` (fsync and synchronous_commit off: see README)."""

    directory: str
    port: int
    url: str  # the database "billow_test" that scripts/pg creates

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.psycopg_url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def psycopg_url(self, database: str | None = None) -> str:
        url = self.url.replace("postgresql+psycopg://", "postgresql://")
        return url if database is None else url.rsplit("/", 1)[0] + f"/{database}"


@contextmanager
def postgresql() -> Iterator[PostgreSQL]:
    directory = tempfile.mkdtemp(prefix="billow-bench-pg-")
    port = free_port()
    try:
        url = subprocess.run([str(ROOT / "scripts/pg"), "start", directory, str(port)], check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        yield PostgreSQL(directory, port, url)
    finally:
        subprocess.run([str(ROOT / "scripts/pg"), "stop", directory], check=False, capture_output=True)


@contextmanager
def sqlite_file(name: str = "billow.db") -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="billow-bench-sqlite-")
    path = Path(directory) / name
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm", ".lock"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        Path(directory).rmdir()


def cli(url: str, *args: str) -> str:
    """Run ``python -m billow.cli ARGS`` against ``url``; returns its output."""
    env = {**os.environ, "BILLOW_DATABASE_URL": url}
    return subprocess.run([PYTHON, "-m", "billow.cli", *args], env=env, check=True, capture_output=True,
                          text=True, cwd=ROOT).stdout


def migrated_with_org(url: str) -> str:
    """Migrate a fresh database with the CLI and create one organization; returns its id."""
    cli(url, "migrate")
    out = cli(url, "org", "create", "--name", "bench")
    first = out.splitlines()[0]  # Created organization 'bench' (<uuid>).
    return first.rsplit("(", 1)[1].rstrip(").")


def cpu_seconds(select: Any) -> float:
    """CPU time (user + system) so far of the processes whose ``/proc/<pid>/stat`` fields (after
    the command name) ``select`` accepts."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().rsplit(")", 1)
        except OSError:  # a process that ended meanwhile
            continue
        fields_list = fields.split()
        if select(fields_list, name):
            total += int(fields_list[11]) + int(fields_list[12])
    return total / ticks


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) so far of the process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time so far of every PostgreSQL server process on the machine (the benchmarks' own)."""
    return cpu_seconds(lambda _fields, name: name.endswith("(postgres"))


# ---- the server ----------------------------------------------------------------------------------


class Server:
    """``python -m billow.cli serve`` in its own process group, on a free loopback port."""

    def __init__(self, url: str, *, workers: int = 1, log_level: str = "warning"):
        self.database_url = url
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="billow-bench-server-", suffix=".log", delete=False)
        env = {**os.environ, "BILLOW_DATABASE_URL": url, "BILLOW_ORG_API_KEY": API_KEY,
               "BILLOW_LOG_LEVEL": log_level, "BILLOW_ORG_NAME": "bench"}
        self.process = subprocess.Popen(
            [PYTHON, "-m", "billow.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers)],
            env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early, see {self.log.name}:\n{Path(self.log.name).read_text()}")
            try:
                # With several workers, wait until each could have bound (they share the socket).
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    time.sleep(0.5 * self.workers)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become ready")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's process group (its workers too)."""
        return cpu_seconds(lambda fields, _name: int(fields[2]) == self.process.pid)  # fields[2]: process group

    def client(self, **kwargs: Any) -> httpx.Client:
        # TCP_NODELAY: httpx writes a POST's headers and body separately; with Nagle's algorithm
        # the body would wait for the server's delayed ACK (~40 ms on Linux) on every request.
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        return httpx.Client(base_url=self.base + "/api/v1/", headers={"Authorization": f"Bearer {API_KEY}"},
                            timeout=120, transport=transport, **kwargs)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group of the process started above
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# ---- setup over HTTP -----------------------------------------------------------------------------


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    return response.json()  # type: ignore[no-any-return]


def setup_billing(api: httpx.Client, *, metrics: list[dict[str, Any]], charges: list[dict[str, Any]],
                  subscriptions: Sequence[str], currency: str = "EUR",
                  subscription_at: str = "2024-01-01T00:00:00Z") -> None:
    """Metrics, one monthly plan with ``charges`` (each names its metric by ``code``), and one
    customer + calendar subscription per external subscription id."""
    ids = {}
    for metric in metrics:
        body = {"billable_metric": {"name": metric["code"], **metric}}
        ids[metric["code"]] = _ok(api.post("billable_metrics", json=body))["billable_metric"]["lago_id"]
    plan_charges = [{**{k: v for k, v in c.items() if k != "code"}, "billable_metric_id": ids[c["code"]]}
                    for c in charges]
    plan = {"name": "Bench", "code": "bench", "interval": "monthly", "amount_cents": 1000,
            "amount_currency": currency, "pay_in_advance": False, "charges": plan_charges}
    _ok(api.post("plans", json={"plan": plan}))
    for external_id in subscriptions:
        _ok(api.post("customers", json={"customer": {"external_id": f"cus-{external_id}", "currency": currency}}))
        _ok(api.post("subscriptions", json={"subscription": {
            "external_customer_id": f"cus-{external_id}", "plan_code": "bench", "external_id": external_id,
            "subscription_at": subscription_at, "billing_time": "calendar"}}))


def period_start(at: datetime) -> datetime:
    """Start of the calendar month (UTC) holding ``at``: the current period of the bench subscriptions."""
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
