"""Concurrent writers never fail (no "database is locked" on SQLite) and never lose a write."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from billow.models import Tax
from tests.conftest import Org

THREADS = 24
WRITES_PER_THREAD = 10


def test_concurrent_creates_and_updates_all_succeed(server, org: Org, database) -> None:
    headers = {"Authorization": f"Bearer {org.api_key}"}

    def worker(n: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=f"{server.url}/api/v1/", headers=headers, timeout=60) as client:
            for i in range(WRITES_PER_THREAD):
                code = f"t{n}_{i}"
                statuses.append(client.post("taxes", json={"tax": {"name": code, "code": code, "rate": "1"}}).status_code)
                # A read-modify-write on a row every thread shares.
                statuses.append(client.put(f"taxes/{code}", json={"tax": {"rate": str(i)}}).status_code)
                statuses.append(client.get("taxes", params={"per_page": 5}).status_code)
        return statuses

    with ThreadPoolExecutor(THREADS) as pool:
        results = [status for statuses in pool.map(worker, range(THREADS)) for status in statuses]

    assert results == [200] * (THREADS * WRITES_PER_THREAD * 3)
    with database.unit_of_work(write=False) as session:
        taxes = session.query(Tax).filter(Tax.organization_id == org.id).all()
    assert len(taxes) == THREADS * WRITES_PER_THREAD
    assert sorted(int(t.rate) for t in taxes if t.code.startswith("t0_")) == list(range(WRITES_PER_THREAD))
