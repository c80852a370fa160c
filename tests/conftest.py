"""Test fixtures: one database per run (SQLite by default, PostgreSQL when
``BILLOW_TEST_DATABASE_URL`` says so), one live HTTP server, one organization per test."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from billow.config import Settings
from billow.core.db import Database
from billow.main import create_app
from billow.models import Base
from billow.organizations import service as org_service


def _database_url() -> str:
    url = os.environ.get("BILLOW_TEST_DATABASE_URL")
    if url:
        return url
    path = Path(tempfile.mkdtemp(prefix="billow-test-")) / "billow.db"
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    db = Database(_database_url(), pool_size=10)
    Base.metadata.drop_all(db.engine)
    Base.metadata.create_all(db.engine)
    yield db
    db.dispose()


@dataclass
class LiveServer:
    url: str
    app: Any


@pytest.fixture(scope="session")
def server(database: Database) -> Iterator[LiveServer]:
    settings = Settings(database_url=database.url)
    app = create_app(settings, database=database)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    yield LiveServer(url=f"http://127.0.0.1:{port}", app=app)
    uv.should_exit = True
    thread.join(timeout=5)


@dataclass
class Org:
    id: Any
    name: str
    api_key: str


def make_org(database: Database, name: str = "Test org") -> Org:
    with database.unit_of_work() as session:
        created = org_service.create_organization(session, name)
        return Org(created.organization.id, name, created.api_key)


@pytest.fixture
def org(database: Database) -> Org:
    return make_org(database)


@pytest.fixture
def api(server: LiveServer, org: Org) -> Iterator[httpx.Client]:
    """HTTP client under /api/v1 authenticated as the test's organization."""
    with httpx.Client(
        base_url=f"{server.url}/api/v1/", headers={"Authorization": f"Bearer {org.api_key}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def anon(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/", timeout=30) as client:
        yield client


@pytest.fixture
def lago(server: LiveServer, org: Org) -> Any:
    """The official lago-python-client pointed at the live server."""
    from lago_python_client.client import Client

    return Client(api_key=org.api_key, api_url=server.url + "/")


def database_state(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to assert that a refused request changed nothing."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    with database.unit_of_work(write=False) as session:
        for table in Base.metadata.sorted_tables:
            rows = session.execute(select(table)).all()
            state[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return state


@pytest.fixture
def unchanged(database: Database) -> Any:
    """`with unchanged(): ...` asserts the block leaves the database exactly as it was."""

    @contextmanager
    def check() -> Iterator[None]:
        before = database_state(database)
        yield
        after = database_state(database)
        assert after == before, "the refused request changed the database"

    return check


@contextmanager
def fresh_database(template: Database, prefix: str = "billow_fresh") -> Iterator[str]:
    """A new empty database of the suite's kind: a temp SQLite file, or CREATE DATABASE (dropped after)."""
    if template.sqlite:
        yield f"sqlite:///{Path(tempfile.mkdtemp(prefix=prefix)) / 'fresh.db'}"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(template.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(template.url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
